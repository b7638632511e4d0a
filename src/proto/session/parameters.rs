//! `text/parameters` bodies (GET_PARAMETER / SET_PARAMETER) and the FLUSH `RTP-Info` header.

use super::{Answer, Session, SessionEvent};
use crate::proto::rtsp::Request;
use tracing::debug;

/// One `name: value` line of a `text/parameters` body.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    /// AirPlay volume in dB, clamped to [-144, 0].
    Volume(f32),
    /// `progress: start/current/end` RTP timestamps.
    Progress { start: u32, current: u32, end: u32 },
    /// A bare name (GET_PARAMETER asks for it).
    Name(String),
    /// Something else; kept for logging.
    Other(String, String),
}

/// Parses a `text/parameters` body: CRLF (or LF) separated `name: value` lines.
pub fn parse_parameters(body: &[u8]) -> Vec<Parameter> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once(':') {
            None => Parameter::Name(line.to_owned()),
            Some((name, value)) => {
                let (name, value) = (name.trim(), value.trim());
                match name {
                    "volume" => match value.parse::<f32>() {
                        Ok(v) if v.is_finite() => Parameter::Volume(v.clamp(-144.0, 0.0)),
                        _ => Parameter::Other(name.to_owned(), value.to_owned()),
                    },
                    "progress" => parse_progress(value)
                        .unwrap_or_else(|| Parameter::Other(name.to_owned(), value.to_owned())),
                    _ => Parameter::Other(name.to_owned(), value.to_owned()),
                }
            }
        })
        .collect()
}

fn parse_progress(value: &str) -> Option<Parameter> {
    let mut it = value.split('/').map(|p| p.trim().parse::<u32>());
    let (start, current, end) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    if it.next().is_some() {
        return None;
    }
    Some(Parameter::Progress {
        start,
        current,
        end,
    })
}

/// The `seq=` value of a FLUSH request's `RTP-Info` header.
pub(super) fn flush_next_seq(req: &Request) -> Option<u16> {
    req.headers.get("RTP-Info")?.split(';').find_map(|part| {
        part.trim()
            .strip_prefix("seq=")
            .and_then(|v| v.trim().parse().ok())
    })
}

impl Session {
    pub(super) fn get_parameter(&mut self, req: &Request) -> Answer {
        let Some(ct) = req.content_type() else {
            return Answer::status(451);
        };
        if !ct.starts_with("text/parameters") {
            return Answer::status(451);
        }
        let mut out = String::new();
        for p in parse_parameters(&req.body) {
            match p {
                Parameter::Name(n) if n == "volume" => {
                    out.push_str(&format!("volume: {:9.6}\r\n", self.profile.volume_db()));
                }
                other => debug!(?other, "GET_PARAMETER for something we do not report"),
            }
        }
        Answer::text_parameters(out)
    }

    pub(super) fn set_parameter(&mut self, req: &Request) -> Answer {
        let Some(ct) = req.content_type() else {
            return Answer::status(451);
        };
        let mut answer = Answer::ok();
        if ct.starts_with("text/parameters") {
            for p in parse_parameters(&req.body) {
                match p {
                    Parameter::Volume(db) => {
                        self.profile.set_volume_db(db);
                        answer = answer.event(SessionEvent::Volume { db });
                    }
                    Parameter::Progress {
                        start,
                        current,
                        end,
                    } => {
                        answer = answer.event(SessionEvent::Progress {
                            start,
                            current,
                            end,
                        })
                    }
                    other => debug!(?other, "SET_PARAMETER ignored"),
                }
            }
        } else {
            debug!(
                content_type = ct,
                len = req.body.len(),
                "SET_PARAMETER metadata ignored"
            );
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volume_progress_and_names() {
        let p = parse_parameters(b"volume: -20.5\r\nprogress: 1/2/3\r\nvolume\r\nfoo: bar\r\n");
        assert_eq!(
            p,
            vec![
                Parameter::Volume(-20.5),
                Parameter::Progress {
                    start: 1,
                    current: 2,
                    end: 3
                },
                Parameter::Name("volume".into()),
                Parameter::Other("foo".into(), "bar".into()),
            ]
        );
    }

    #[test]
    fn clamps_and_rejects_bad_numbers() {
        assert_eq!(
            parse_parameters(b"volume: -500\r\n"),
            vec![Parameter::Volume(-144.0)]
        );
        assert_eq!(
            parse_parameters(b"volume: 3\r\n"),
            vec![Parameter::Volume(0.0)]
        );
        assert!(matches!(
            parse_parameters(b"volume: NaN\r\n")[0],
            Parameter::Other(..)
        ));
        assert!(matches!(
            parse_parameters(b"progress: 1/2\r\n")[0],
            Parameter::Other(..)
        ));
        assert!(parse_parameters(&[0xff, 0xfe, 0x00]).len() <= 1);
    }
}

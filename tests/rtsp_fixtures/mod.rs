//! Real-shaped iOS control requests (PROTOCOL §7.1) shared by the RTSP parser tests: the
//! wire bytes of each message and the `Request` it must parse to.

use airglass::proto::rtsp::{Headers, Method, Protocol, Request};

pub const BPLIST: &str = "application/x-apple-binary-plist";
pub const OCTETS: &str = "application/octet-stream";

/// `{qualifier: [txtAirPlay]}` as iOS sends it with the first GET /info (70 bytes).
pub fn qualifier_plist() -> Vec<u8> {
    let mut d = plist::Dictionary::new();
    d.insert(
        "qualifier".to_owned(),
        plist::Value::Array(vec![plist::Value::String("txtAirPlay".to_owned())]),
    );
    let mut out = Vec::new();
    plist::Value::Dictionary(d)
        .to_writer_binary(&mut out)
        .expect("plist serialises into memory");
    out
}

pub fn hex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("test hex is valid")
}

/// One wire message and the request it must parse to.
pub struct Case {
    pub wire: Vec<u8>,
    pub expected: Request,
}

fn case(head: &str, body: &[u8], expected: Request) -> Case {
    let mut wire = head.replace('\n', "\r\n").into_bytes();
    wire.extend_from_slice(body);
    Case { wire, expected }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request {
        method,
        uri: uri.to_owned(),
        protocol: Protocol::Rtsp10,
        headers: headers.iter().copied().collect::<Headers>(),
        body: body.to_vec(),
    }
}

/// The start of a UxPlay-default mirroring session from iOS 18 (PROTOCOL §7.1), with the
/// header set and casing iOS uses.
pub fn ios_session() -> Vec<Case> {
    let ua = "AirPlay/845.6.1";
    let dacp = "14413BE4996FEA4D";
    let remote = "2543110914";
    let session_uri = "rtsp://192.168.1.20/2936329146129227590";
    let plist = qualifier_plist();
    let fp1 = hex("46504c590301010000000004020000bb");
    let setup_body = b"bplist00\xd1\x01\x02Tname\x00".to_vec();
    let volume = b"volume: -20.000000\r\n".to_vec();
    vec![
        case(
            "GET /info RTSP/1.0\nX-Apple-ProtocolVersion: 1\nContent-Length: 70\n\
             Content-Type: application/x-apple-binary-plist\nCSeq: 0\n\
             DACP-ID: 14413BE4996FEA4D\nActive-Remote: 2543110914\n\
             User-Agent: AirPlay/845.6.1\n\n",
            &plist,
            request(
                Method::Get,
                "/info",
                &[
                    ("X-Apple-ProtocolVersion", "1"),
                    ("Content-Length", "70"),
                    ("Content-Type", BPLIST),
                    ("CSeq", "0"),
                    ("DACP-ID", dacp),
                    ("Active-Remote", remote),
                    ("User-Agent", ua),
                ],
                &plist,
            ),
        ),
        case(
            "POST /fp-setup RTSP/1.0\nX-Apple-ET: 32\nContent-Length: 16\n\
             Content-Type: application/octet-stream\nCSeq: 1\nDACP-ID: 14413BE4996FEA4D\n\
             Active-Remote: 2543110914\nUser-Agent: AirPlay/845.6.1\n\n",
            &fp1,
            request(
                Method::Post,
                "/fp-setup",
                &[
                    ("X-Apple-ET", "32"),
                    ("Content-Length", "16"),
                    ("Content-Type", OCTETS),
                    ("CSeq", "1"),
                    ("DACP-ID", dacp),
                    ("Active-Remote", remote),
                    ("User-Agent", ua),
                ],
                &fp1,
            ),
        ),
        case(
            &format!(
                "SETUP {session_uri} RTSP/1.0\nContent-Length: {}\n\
                 Content-Type: application/x-apple-binary-plist\nCSeq: 3\n\
                 DACP-ID: 14413BE4996FEA4D\nActive-Remote: 2543110914\n\
                 User-Agent: AirPlay/845.6.1\n\n",
                setup_body.len()
            ),
            &setup_body,
            request(
                Method::Setup,
                session_uri,
                &[
                    ("Content-Length", &setup_body.len().to_string()),
                    ("Content-Type", BPLIST),
                    ("CSeq", "3"),
                    ("DACP-ID", dacp),
                    ("Active-Remote", remote),
                    ("User-Agent", ua),
                ],
                &setup_body,
            ),
        ),
        case(
            "GET /info RTSP/1.0\nCSeq: 4\nDACP-ID: 14413BE4996FEA4D\n\
             Active-Remote: 2543110914\nUser-Agent: AirPlay/845.6.1\n\n",
            b"",
            request(
                Method::Get,
                "/info",
                &[
                    ("CSeq", "4"),
                    ("DACP-ID", dacp),
                    ("Active-Remote", remote),
                    ("User-Agent", ua),
                ],
                b"",
            ),
        ),
        case(
            &format!("RECORD {session_uri} RTSP/1.0\nCSeq: 5\nUser-Agent: AirPlay/845.6.1\n\n"),
            b"",
            request(
                Method::Record,
                session_uri,
                &[("CSeq", "5"), ("User-Agent", ua)],
                b"",
            ),
        ),
        case(
            &format!(
                "SET_PARAMETER {session_uri} RTSP/1.0\nContent-Length: 20\n\
                 Content-Type: text/parameters\nCSeq: 6\nUser-Agent: AirPlay/845.6.1\n\n"
            ),
            &volume,
            request(
                Method::SetParameter,
                session_uri,
                &[
                    ("Content-Length", "20"),
                    ("Content-Type", "text/parameters"),
                    ("CSeq", "6"),
                    ("User-Agent", ua),
                ],
                &volume,
            ),
        ),
        case(
            "POST /feedback RTSP/1.0\nCSeq: 7\nUser-Agent: AirPlay/845.6.1\n\n",
            b"",
            request(
                Method::Post,
                "/feedback",
                &[("CSeq", "7"), ("User-Agent", ua)],
                b"",
            ),
        ),
        case(
            &format!(
                "FLUSH {session_uri} RTSP/1.0\nRTP-Info: seq=31533;rtptime=2413470688\n\
                 CSeq: 8\nUser-Agent: AirPlay/845.6.1\n\n"
            ),
            b"",
            request(
                Method::Flush,
                session_uri,
                &[
                    ("RTP-Info", "seq=31533;rtptime=2413470688"),
                    ("CSeq", "8"),
                    ("User-Agent", ua),
                ],
                b"",
            ),
        ),
    ]
}

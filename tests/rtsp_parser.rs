//! Integration tests for `proto::rtsp`: real-shaped iOS control requests (PROTOCOL §7.1)
//! parsed byte-exactly, pipelined and partial feeding, limits, malformed input, and
//! property tests (arbitrary bytes never panic; encode → parse round-trips).

use airglass::proto::rtsp::{
    Headers, Limits, Method, ParseError, Protocol, Request, Response, parse_request, parse_response,
};
use proptest::prelude::*;

mod rtsp_fixtures;
use rtsp_fixtures::{BPLIST, OCTETS, hex, ios_session, qualifier_plist};

#[test]
fn ios_qualifier_body_is_70_bytes() {
    assert_eq!(qualifier_plist().len(), 70);
}

#[test]
fn ios_requests_parse_byte_exactly() {
    let limits = Limits::default();
    for case in ios_session() {
        let (parsed, used) = parse_request(&case.wire, &limits)
            .expect("valid request")
            .expect("complete request");
        assert_eq!(parsed, case.expected);
        assert_eq!(used, case.wire.len());
    }
}

#[test]
fn accessors_on_ios_requests() {
    let cases = ios_session();
    let first = &cases[0].expected;
    assert_eq!(first.cseq(), Some("0"));
    assert_eq!(first.content_type(), Some(BPLIST));
    assert_eq!(first.path(), "/info");
    assert_eq!(first.headers.get("dacp-id"), Some("14413BE4996FEA4D"));
    let setup = &cases[2].expected;
    assert_eq!(setup.path(), "/2936329146129227590");
    assert_eq!(setup.cseq(), Some("3"));
    assert_eq!(cases[3].expected.content_type(), None);
}

#[test]
fn pipelined_session_parses_in_order() {
    let cases = ios_session();
    let mut stream: Vec<u8> = cases.iter().flat_map(|c| c.wire.clone()).collect();
    let limits = Limits::default();
    for case in &cases {
        let (parsed, used) = parse_request(&stream, &limits).unwrap().unwrap();
        assert_eq!(parsed, case.expected);
        stream.drain(..used);
    }
    assert!(stream.is_empty());
    assert_eq!(parse_request(&stream, &limits), Ok(None));
}

#[test]
fn every_split_point_is_incomplete_then_whole() {
    let limits = Limits::default();
    for case in ios_session() {
        for split in 0..case.wire.len() {
            assert_eq!(
                parse_request(&case.wire[..split], &limits),
                Ok(None),
                "prefix of {split} bytes of {:?}",
                case.expected.method
            );
        }
        // Fed in two chunks into a growing buffer, the result is the same request.
        let (parsed, used) = parse_request(&case.wire, &limits).unwrap().unwrap();
        assert_eq!((parsed, used), (case.expected, case.wire.len()));
    }
}

#[test]
fn byte_by_byte_feeding_over_a_session() {
    let cases = ios_session();
    let stream: Vec<u8> = cases.iter().flat_map(|c| c.wire.clone()).collect();
    let limits = Limits::default();
    let mut buffer = Vec::new();
    let mut parsed = Vec::new();
    for byte in stream {
        buffer.push(byte);
        while let Some((request, used)) = parse_request(&buffer, &limits).unwrap() {
            parsed.push(request);
            buffer.drain(..used);
        }
    }
    let expected: Vec<Request> = cases.into_iter().map(|c| c.expected).collect();
    assert_eq!(parsed, expected);
    assert!(buffer.is_empty());
}

#[test]
fn http11_request_on_the_same_port() {
    let wire = b"GET /server-info HTTP/1.1\r\nX-Apple-Session-ID: 1bd6ceeb-fffd-456c-a09c-996053a7a08c\r\nContent-Length: 0\r\n\r\n";
    let (parsed, used) = parse_request(wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(parsed.protocol, Protocol::Http11);
    assert_eq!(parsed.method, Method::Get);
    assert_eq!(parsed.path(), "/server-info");
    assert_eq!(parsed.cseq(), None);
}

#[test]
fn unknown_methods_parse_as_unknown() {
    let wire = b"PUT /setProperty?forwardEndTime HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    let (parsed, _) = parse_request(wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(parsed.method, Method::Unknown("PUT".to_owned()));
    assert_eq!(parsed.path(), "/setProperty");
    assert_eq!(parsed.body, b"hi");
    let wire = b"announce rtsp://h/1 RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    let (parsed, _) = parse_request(wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(parsed.method, Method::Unknown("announce".to_owned()));
    let wire = b"ANNOUNCE rtsp://h/1 RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    let (parsed, _) = parse_request(wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(parsed.method, Method::Announce);
}

#[test]
fn head_without_blank_line_within_limit_is_too_large() {
    let limits = Limits::default();
    let mut wire = b"GET /info RTSP/1.0\r\nCSeq: 0\r\n".to_vec();
    // A single enormous header line, still incomplete: rejected once 16 KiB are buffered.
    wire.extend_from_slice(b"X-Big: ");
    wire.resize(limits.max_header_bytes - 1, b'a');
    assert_eq!(parse_request(&wire, &limits), Ok(None));
    wire.push(b'a');
    assert_eq!(
        parse_request(&wire, &limits),
        Err(ParseError::HeaderTooLarge { limit: 0x4000 })
    );
    assert_eq!(ParseError::HeaderTooLarge { limit: 0x4000 }.status(), 431);
}

#[test]
fn huge_content_length_is_rejected_before_the_body() {
    let limits = Limits::default();
    for declared in ["2147483648", "1048577", "184467440737095516160000"] {
        // The head is not even finished: the declaration alone is enough.
        let wire = format!("POST /fp-setup RTSP/1.0\r\nContent-Length: {declared}\r\n");
        let err = parse_request(wire.as_bytes(), &limits).unwrap_err();
        assert_eq!(err, ParseError::BodyTooLarge { limit: 0x10_0000 });
        assert_eq!(err.status(), 413);
    }
    let at_limit = "POST /x RTSP/1.0\r\nContent-Length: 1048576\r\n\r\n";
    assert_eq!(parse_request(at_limit.as_bytes(), &limits), Ok(None));
}

#[test]
fn too_many_headers() {
    let limits = Limits {
        max_headers: 4,
        ..Limits::default()
    };
    let mut wire = String::from("OPTIONS * RTSP/1.0\r\n");
    for i in 0..4 {
        wire.push_str(&format!("H{i}: v\r\n"));
    }
    assert!(matches!(
        parse_request(format!("{wire}\r\n").as_bytes(), &limits),
        Ok(Some(_))
    ));
    wire.push_str("H4: v\r\n");
    let err = parse_request(wire.as_bytes(), &limits).unwrap_err();
    assert_eq!(err, ParseError::TooManyHeaders { limit: 4 });
    assert_eq!(err.status(), 431);
}

#[test]
fn malformed_lines_are_400() {
    let bad: &[&[u8]] = &[
        b"GET /info\r\n\r\n",
        b"GET  /info RTSP/1.0\r\n\r\n",
        b"GET /info RTSP/1.0 extra\r\n\r\n",
        b"G(T /info RTSP/1.0\r\n\r\n",
        b"GET /in\x01fo RTSP/1.0\r\n\r\n",
        b"GET /info rtsp/1.0\r\n\r\n",
        b"GET /info RTSP/1.0\r\nNoColon\r\n\r\n",
        b"GET /info RTSP/1.0\r\nBad Name: x\r\n\r\n",
        b"GET /info RTSP/1.0\r\n: empty-name\r\n\r\n",
        b"GET /info RTSP/1.0\r\nA: 1\r\n folded\r\n\r\n",
        b"GET /info RTSP/1.0\r\nA: x\x00y\r\n\r\n",
        b"GET /info RTSP/1.0\r\nA: \xff\xfe\r\n\r\n",
        b"GET /info RTSP/1.0\r\nA: b\rc\r\n\r\n",
        b"GET /info RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        b"GET /info RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
        b"GET /info RTSP/1.0\r\nContent-Length: 1e3\r\n\r\n",
        b"GET /info RTSP/1.0\r\nContent-Length:\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
    ];
    for wire in bad {
        let err = parse_request(wire, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ParseError::Malformed(_)),
            "{:?} gave {err:?}",
            String::from_utf8_lossy(wire)
        );
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn garbage_is_rejected_as_soon_as_its_first_line_ends() {
    // No need to wait for 16 KiB: the first line already cannot be a request line.
    let wire = b"hello there\r\n";
    assert!(matches!(
        parse_request(wire, &Limits::default()),
        Err(ParseError::Malformed(_))
    ));
}

#[test]
fn unknown_protocol_is_505() {
    for wire in [
        &b"GET /info RTSP/2.0\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ] {
        let err = parse_request(wire, &Limits::default()).unwrap_err();
        assert!(matches!(err, ParseError::UnsupportedProtocol(_)), "{err:?}");
        assert_eq!(err.status(), 505);
    }
}

#[test]
fn responses_parse_for_the_sender() {
    let body = hex("46504c590301040000000014c478f563cefd4275fb555a3ae33ad8b9f994f9b5");
    let mut wire = b"RTSP/1.0 200 OK\r\nAudio-Jack-Status: connected; type=digital\r\n\
Content-Type: application/octet-stream\r\nServer: AirTunes/220.68\r\nCSeq: 2\r\n\
Content-Length: 32\r\n\r\n"
        .to_vec();
    wire.extend_from_slice(&body);
    wire.extend_from_slice(b"RTSP/1.0 200 OK\r\nServer: AirTunes/220.68\r\nCSeq: 3\r\n\r\n");
    let limits = Limits::default();
    let (first, used) = parse_response(&wire, &limits).unwrap().unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.cseq(), Some("2"));
    assert_eq!(first.content_type(), Some(OCTETS));
    assert_eq!(first.body, body);
    let (second, rest) = parse_response(&wire[used..], &limits).unwrap().unwrap();
    assert_eq!(second.cseq(), Some("3"));
    assert!(second.body.is_empty());
    assert_eq!(used + rest, wire.len());
    for split in 0..used {
        assert_eq!(parse_response(&wire[..split], &limits), Ok(None));
    }
}

#[test]
fn response_encode_parse_round_trip() {
    let response = Response::new(Protocol::Rtsp10, 451)
        .with_header("Audio-Jack-Status", "connected; type=digital")
        .with_header("Server", "AirTunes/220.68")
        .with_header("CSeq", "9");
    let mut wire = Vec::new();
    response.encode(&mut wire);
    assert_eq!(
        wire,
        b"RTSP/1.0 451 Parameter Not Understood\r\nAudio-Jack-Status: connected; type=digital\r\n\
Server: AirTunes/220.68\r\nCSeq: 9\r\n\r\n"
    );
    let (parsed, used) = parse_response(&wire, &Limits::default()).unwrap().unwrap();
    assert_eq!(parsed, response);
    assert_eq!(used, wire.len());
}

// ---- property tests ----

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Setup),
        Just(Method::Record),
        Just(Method::GetParameter),
        Just(Method::SetParameter),
        Just(Method::Options),
        Just(Method::Teardown),
        Just(Method::Flush),
        Just(Method::Announce),
        Just(Method::Pause),
        token().prop_map(|t| Method::from_token(&t)),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Rtsp10), Just(Protocol::Http11)]
}

/// Header fields that the encoder writes as given (no framing headers), with values that
/// survive whitespace trimming.
fn headers() -> impl Strategy<Value = Headers> {
    let value = "([!-~]([ -~]{0,30}[!-~])?)?";
    prop::collection::vec((token(), value), 0..10).prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("content-length")
                    && !n.eq_ignore_ascii_case("transfer-encoding")
            })
            .collect()
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300)
}

fn strip_length(headers: &Headers) -> Headers {
    headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("Content-Length"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let limits = Limits::default();
        let _ = parse_request(&bytes, &limits);
        let _ = parse_response(&bytes, &limits);
    }

    #[test]
    fn mutated_real_requests_never_panic_and_stay_prefix_consistent(
        index in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        small in any::<bool>(),
    ) {
        let cases = ios_session();
        let mut wire = cases[index % cases.len()].wire.clone();
        for (at, byte) in edits {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        let limits = if small {
            Limits { max_header_bytes: 64, max_headers: 2, max_body_bytes: 8 }
        } else {
            Limits::default()
        };
        let whole = parse_request(&wire, &limits);
        if let Ok(Some((_, used))) = &whole {
            for split in 0..*used {
                prop_assert_eq!(parse_request(&wire[..split], &limits), Ok(None));
            }
        }
        if let Err(e) = &whole {
            // More input never turns an error back into success.
            let mut longer = wire.clone();
            longer.extend_from_slice(b"\r\n\r\nmore");
            prop_assert_eq!(parse_request(&longer, &limits).unwrap_err(), e.clone());
        }
    }

    #[test]
    fn request_encode_parse_round_trips(
        method in method(),
        uri in "[!-~]{1,40}",
        protocol in protocol(),
        headers in headers(),
        body in body(),
        trailing in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let original = Request { method, uri, protocol, headers, body };
        let mut wire = Vec::new();
        original.encode(&mut wire);
        let encoded_len = wire.len();
        wire.extend_from_slice(&trailing);
        let (parsed, used) = parse_request(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, encoded_len);
        prop_assert_eq!(&parsed.method, &original.method);
        prop_assert_eq!(&parsed.uri, &original.uri);
        prop_assert_eq!(parsed.protocol, original.protocol);
        prop_assert_eq!(&parsed.body, &original.body);
        prop_assert_eq!(strip_length(&parsed.headers), original.headers.clone());
        let mut again = Vec::new();
        parsed.encode(&mut again);
        prop_assert_eq!(&again[..], &wire[..encoded_len]);
    }

    #[test]
    fn response_encode_parse_round_trips(
        protocol in protocol(),
        status in 100u16..=999,
        reason in "[ -~]{0,30}",
        headers in headers(),
        body in body(),
    ) {
        let original = Response { protocol, status, reason, headers, body };
        let mut wire = Vec::new();
        original.encode(&mut wire);
        let (parsed, used) = parse_response(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(parsed.status, original.status);
        prop_assert_eq!(&parsed.reason, &original.reason);
        prop_assert_eq!(&parsed.body, &original.body);
        prop_assert_eq!(strip_length(&parsed.headers), original.headers.clone());
        let mut again = Vec::new();
        parsed.encode(&mut again);
        prop_assert_eq!(again, wire);
    }
}

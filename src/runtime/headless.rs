//! The headless view: one JSON input per line on stdin, one JSON frame per line on
//! stdout (`docs/headless.md`). Tests and technicians drive the real kiosk with it.

use serde::Deserialize;

use crate::kiosk::{Input, Tap};

/// One line of input. Exactly one field is expected.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Tap an element by id (`start`, `digit_4`, `ok`, `child:child_01a`, `check_in`…).
    #[serde(default)]
    pub tap: Option<String>,
    /// Shorthand: open the keypad if at home, type the digits, press OK.
    #[serde(default)]
    pub pin: Option<String>,
    /// A finger matched this sensor slot.
    #[serde(default)]
    pub fingerprint: Option<u32>,
    /// The scanner read this text.
    #[serde(default)]
    pub qr: Option<String>,
    /// The provisioning form was submitted (first boot; ignored once provisioned).
    #[serde(default)]
    pub provision: Option<ProvisionForm>,
}

/// `{"provision":{"hub_url":"https://…","code":"7F3K-Q2PD","name":"Front door"}}`
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProvisionForm {
    pub hub_url: String,
    pub code: String,
    pub name: String,
}

/// Parse one line into the inputs it stands for. `pin` taps `start` first: that opens
/// the keypad from home or a confirmation and is ignored on the keypad itself.
pub fn parse_line(line: &str) -> Result<Vec<Input>, String> {
    let cmd: Command = serde_json::from_str(line).map_err(|e| {
        format!(
            "not a command ({e}); expected e.g. {{\"pin\":\"1234\"}} or {{\"tap\":\"check_in\"}}"
        )
    })?;
    let mut out = Vec::new();
    let given = [
        cmd.tap.is_some(),
        cmd.pin.is_some(),
        cmd.fingerprint.is_some(),
        cmd.qr.is_some(),
        cmd.provision.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err("give exactly one of tap, pin, fingerprint, qr, provision".into());
    }
    if let Some(t) = cmd.tap {
        out.push(Input::Tap(Tap::parse(&t).map_err(|e| e.to_string())?));
    }
    if let Some(p) = cmd.pin {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 8 {
            return Err("pin must be 1 to 8 digits".into());
        }
        out.push(Input::Tap(Tap::Start));
        out.extend(p.chars().map(|d| Input::Tap(Tap::Digit(d))));
        out.push(Input::Tap(Tap::Ok));
    }
    if let Some(slot) = cmd.fingerprint {
        out.push(Input::Fingerprint(slot));
    }
    if let Some(q) = cmd.qr {
        out.push(Input::Qr(q));
    }
    if let Some(f) = cmd.provision {
        out.push(Input::Provision {
            hub_url: f.hub_url,
            code: f.code,
            name: f.name,
        });
    }
    Ok(out)
}

/// Longest command line read from stdin; a longer one is answered with an error and
/// skipped (memory stays bounded whatever is piped in).
pub const MAX_LINE: usize = 64 * 1024;

/// One command line as bytes: `Ok(None)` at end of input. A line over [`MAX_LINE`] comes
/// back as its first `MAX_LINE + 1` bytes (so [`decode_line`] refuses it) and the rest of
/// it is read and dropped.
async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncBufReadExt;
    let mut buf = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok((!buf.is_empty()).then_some(buf));
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        if done {
            return Ok(Some(buf));
        }
    }
}

/// Decode one stdin line: invalid UTF-8, an over-long line or a bad command is an error
/// message (answered as `{"error": …}`), never the end of the kiosk. A blank line is no
/// input.
pub fn decode_line(bytes: &[u8]) -> Result<Vec<Input>, String> {
    if bytes.len() > MAX_LINE {
        return Err(format!("line longer than {MAX_LINE} bytes: ignored"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "line is not UTF-8 (bad byte at {}): ignored",
            e.valid_up_to()
        )
    })?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    parse_line(text.trim_end_matches(['\r', '\n']))
}

/// The one stdin command loop, for the headless kiosk and a window driven from stdin:
/// every line is decoded ([`decode_line`]) and its inputs sent on `tx`; a bad line goes
/// to `on_error` and the next line is read. Returns at end of input, on a read error, or
/// when the kiosk stops taking inputs.
pub async fn feed_commands<R, F, Fut>(
    reader: R,
    tx: tokio::sync::mpsc::Sender<Vec<Input>>,
    on_error: F,
) where
    R: tokio::io::AsyncRead + Unpin,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut lines = tokio::io::BufReader::new(reader);
    while let Ok(Some(bytes)) = read_bounded_line(&mut lines).await {
        match decode_line(&bytes) {
            Ok(inputs) if inputs.is_empty() => {}
            Ok(inputs) => {
                if tx.send(inputs).await.is_err() {
                    return;
                }
            }
            Err(e) => on_error(e).await,
        }
    }
}

/// Read commands from stdin, print frames on stdout, until stdin closes.
pub async fn run_headless(
    cfg: crate::config::Config,
    clock: std::sync::Arc<dyn crate::clock::ClockSource>,
) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    use tokio::sync::{mpsc, watch};

    // Watched from the start, so a signal during start-up is not lost.
    let stop = crate::shutdown::requested();
    let (in_tx, in_rx) = mpsc::channel::<Vec<Input>>(64);
    let (frame_tx, mut frame_rx) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let kiosk = tokio::spawn(super::run_kiosk(cfg, clock, in_rx, frame_tx, shutdown_rx));
    let printer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(frame) = frame_rx.recv().await {
            let mut line =
                serde_json::to_string(&frame).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            line.push('\n');
            if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let answer_error = |e: String| async move {
        let msg = serde_json::json!({ "error": e }).to_string();
        let mut out = tokio::io::stdout();
        let _ = out.write_all(format!("{msg}\n").as_bytes()).await;
        let _ = out.flush().await;
    };
    tokio::select! {
        () = feed_commands(tokio::io::stdin(), in_tx.clone(), answer_error) => {}
        () = stop => {}
    }
    let _ = shutdown_tx.send(true);
    drop(in_tx);
    let result = kiosk.await;
    let _ = printer.await;
    match result {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the kiosk task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_and_overlong_lines_are_errors_not_the_end() {
        let e = decode_line(b"{\"tap\":\"st\xffart\"}\n").unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        let long = vec![b'a'; MAX_LINE + 1];
        assert!(decode_line(&long).unwrap_err().contains("longer than"));
        assert_eq!(decode_line(b"  \n").unwrap(), Vec::<Input>::new());
        assert_eq!(
            decode_line(b"{\"tap\":\"start\"}\r\n").unwrap(),
            vec![Input::Tap(Tap::Start)]
        );
    }

    #[tokio::test]
    async fn the_command_loop_answers_a_bad_line_and_goes_on() {
        let input: &[u8] = b"{\"tap\":\"start\"}\n\xff\n\n{\"pin\":\"12\"}\n";
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let errors = std::sync::Mutex::new(Vec::new());
        feed_commands(input, tx, |e| {
            errors.lock().unwrap().push(e);
            async {}
        })
        .await;
        assert_eq!(rx.recv().await, Some(vec![Input::Tap(Tap::Start)]));
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(4), "start, 1, 2, ok");
        assert_eq!(rx.recv().await, None, "end of input ends the loop");
        let errors = errors.into_inner().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("not UTF-8"), "{errors:?}");
    }

    #[tokio::test]
    async fn a_bad_line_is_skipped_and_the_next_line_is_read() {
        let mut input: &[u8] = b"\xff\xfe\n{\"tap\":\"start\"}\n";
        let mut r = tokio::io::BufReader::new(&mut input);
        let first = read_bounded_line(&mut r).await.unwrap().unwrap();
        assert!(decode_line(&first).is_err());
        let second = read_bounded_line(&mut r).await.unwrap().unwrap();
        assert_eq!(decode_line(&second).unwrap(), vec![Input::Tap(Tap::Start)]);
        assert_eq!(read_bounded_line(&mut r).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_overlong_line_is_bounded_in_memory_and_skipped_whole() {
        let mut data = vec![b'x'; 5 * MAX_LINE];
        data.extend_from_slice(b"\n{\"tap\":\"start\"}\n");
        let mut input: &[u8] = &data;
        let mut r = tokio::io::BufReader::new(&mut input);
        let first = read_bounded_line(&mut r).await.unwrap().unwrap();
        assert_eq!(first.len(), MAX_LINE + 1);
        let second = read_bounded_line(&mut r).await.unwrap().unwrap();
        assert_eq!(decode_line(&second).unwrap(), vec![Input::Tap(Tap::Start)]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn any_bytes_on_a_line_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_line(&bytes);
        }

        #[test]
        fn any_json_shaped_text_never_panics(text in "\\{\"(tap|pin|qr|finger|provision)\": ?(\"[ -~]{0,40}\"|[0-9]{1,5}|null|\\[\\])\\}") {
            let _ = decode_line(text.as_bytes());
        }
    }

    #[test]
    fn pin_expands_to_taps() {
        let got = parse_line(r#"{"pin":"12"}"#).unwrap();
        let taps: Vec<Input> = ["start", "digit_1", "digit_2", "ok"]
            .iter()
            .map(|t| Input::Tap(Tap::parse(t).expect("a known id")))
            .collect();
        assert_eq!(got, taps);
    }

    #[test]
    fn bad_lines_get_clear_errors() {
        assert!(parse_line("hello").unwrap_err().contains("not a command"));
        assert!(parse_line(r#"{"pin":"12a"}"#)
            .unwrap_err()
            .contains("digits"));
        assert!(parse_line(r#"{"tap":"ok","qr":"x"}"#)
            .unwrap_err()
            .contains("exactly one"));
        assert!(parse_line(r#"{"tapp":"ok"}"#).is_err());
        // An id no screen has is answered, not silently dropped.
        let e = parse_line(r#"{"tap":"chek_in"}"#).unwrap_err();
        assert!(
            e.contains("`chek_in`") && e.contains("docs/headless.md"),
            "{e}"
        );
        assert_eq!(
            parse_line(r#"{"tap":"child:child_a"}"#).unwrap(),
            vec![Input::Tap(Tap::Child("child_a".into()))]
        );
    }

    #[test]
    fn provision_form_becomes_one_input() {
        let got =
            parse_line(r#"{"provision":{"hub_url":"https://hub.example","code":"7F3K-Q2PD","name":"Front door"}}"#)
                .unwrap();
        assert_eq!(
            got,
            vec![Input::Provision {
                hub_url: "https://hub.example".into(),
                code: "7F3K-Q2PD".into(),
                name: "Front door".into(),
            }]
        );
        let missing = parse_line(r#"{"provision":{"hub_url":"https://hub.example","code":"X"}}"#)
            .unwrap_err();
        assert!(missing.contains("name"), "{missing}");
        assert!(
            parse_line(r#"{"provision":{"hub_url":"h","code":"c","name":"n"},"tap":"ok"}"#)
                .unwrap_err()
                .contains("exactly one")
        );
    }

    #[test]
    fn fingerprint_and_qr() {
        assert_eq!(
            parse_line(r#"{"fingerprint":3}"#).unwrap(),
            vec![Input::Fingerprint(3)]
        );
        assert_eq!(
            parse_line(r#"{"qr":"CUBBY1.a.b"}"#).unwrap(),
            vec![Input::Qr("CUBBY1.a.b".into())]
        );
    }
}

//! The headless view: one JSON input per line on stdin, one JSON frame per line on
//! stdout (`docs/headless.md`). Tests and technicians drive the real kiosk with it.

use serde::Deserialize;

use crate::kiosk::Input;

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
        out.push(Input::Tap(t));
    }
    if let Some(p) = cmd.pin {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 8 {
            return Err("pin must be 1 to 8 digits".into());
        }
        out.push(Input::Tap("start".into()));
        out.extend(p.chars().map(|d| Input::Tap(format!("digit_{d}"))));
        out.push(Input::Tap("ok".into()));
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

/// Read commands from stdin, print frames on stdout, until stdin closes.
pub async fn run_headless(
    cfg: crate::config::Config,
    clock: std::sync::Arc<dyn crate::clock::ClockSource>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::{mpsc, watch};

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
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) if line.trim().is_empty() => continue,
                Ok(Some(line)) => match parse_line(&line) {
                    Ok(inputs) => {
                        if in_tx.send(inputs).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let msg = serde_json::json!({ "error": e }).to_string();
                        let mut out = tokio::io::stdout();
                        let _ = out.write_all(format!("{msg}\n").as_bytes()).await;
                        let _ = out.flush().await;
                    }
                },
                _ => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
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
    fn pin_expands_to_taps() {
        let got = parse_line(r#"{"pin":"12"}"#).unwrap();
        let taps: Vec<Input> = ["start", "digit_1", "digit_2", "ok"]
            .iter()
            .map(|t| Input::Tap(t.to_string()))
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

//! Tests of the door's QR path and outputs: QR verification (acceptance and every
//! rejection reason, skew edges, strict Ed25519), the 3-second dedup, the hub's minting end
//! to end (enroll over loopback, `cubby hub qr`, verify), scanner decoding (HID key
//! sequences; a serial scanner on a real pty, unplug and replug), the GPIO simulator and
//! `door_feedback`, and the self-test report.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ed25519_dalek::{Signature, SigningKey, Verifier};
use evdev::KeyCode;

use cubby::api::{EnrollResponse, QrKey};
use cubby::devices::gpio::{
    door_feedback, open_door_io, AbsentIo, Buzz, DoorIo, DoorOutcome, GpioConfig, IoAction, Led,
    SimulatedIo,
};
use cubby::devices::scanner::{
    decode_keys, HidDecoder, LineSplitter, Scanner, ScannerOptions, KEY_PRESSED, KEY_RELEASED,
    KEY_REPEATED,
};
use cubby::devices::selftest::{self, DeviceHealth, DeviceState};
use cubby::qr::{public_qr_key, sign_code, Dedup, QrClaims, QrReject, QrVerifier, SCREEN_TEXT};

// ------------------------------------------------------------------ QR helpers

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

const NOW: i64 = 1_795_420_000;

struct Keys {
    hub: SigningKey,
    verifier: QrVerifier,
}

fn keys() -> Keys {
    let hub = SigningKey::generate(&mut rand::rngs::OsRng);
    let verifier = QrVerifier::new(&[public_qr_key("k1", &hub)]);
    Keys { hub, verifier }
}

fn claims(pid: &str, iat: i64, exp: i64) -> QrClaims {
    QrClaims {
        kid: "k1".into(),
        pid: pid.into(),
        iat,
        exp,
        n: "nonce-1".into(),
        ..QrClaims::default()
    }
}

fn payers(pid: &str) -> bool {
    pid == "per_1"
}

// ------------------------------------------------------------------ QR verification

#[test]
fn valid_code_is_accepted() {
    let k = keys();
    let code = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    assert_eq!(k.verifier.verify(&code, t(NOW), payers), Ok("per_1".into()));
    assert_eq!(
        k.verifier
            .verify_logged(&code, t(NOW + 10), payers, |_| false),
        Ok(cubby::qr::QrSubject::Person("per_1".into()))
    );
}

#[test]
fn unknown_kid_is_refused() {
    let k = keys();
    let mut c = claims("per_1", NOW, NOW + 300);
    c.kid = "k2".into();
    let code = sign_code(&k.hub, &c);
    assert_eq!(
        k.verifier.verify(&code, t(NOW), payers),
        Err(QrReject::UnknownKey { kid: "k2".into() })
    );
    // A verifier without any key refuses everything the same way.
    let empty = QrVerifier::new(&[]);
    let good = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    assert!(matches!(
        empty.verify(&good, t(NOW), payers),
        Err(QrReject::UnknownKey { .. })
    ));
}

#[test]
fn forged_signature_is_refused() {
    let k = keys();
    let forger = SigningKey::generate(&mut rand::rngs::OsRng);
    let code = sign_code(&forger, &claims("per_1", NOW, NOW + 300));
    assert_eq!(
        k.verifier.verify(&code, t(NOW), payers),
        Err(QrReject::BadSignature)
    );
}

#[test]
fn flipped_payload_or_signature_bytes_are_refused() {
    let k = keys();
    let code = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    let parts: Vec<&str> = code.split('.').collect();
    assert_eq!(parts.len(), 3);

    // Change one byte of the signed JSON (per_1 -> per_2) and re-encode: valid JSON, bad sig.
    let mut json = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let at = json.windows(5).position(|w| w == b"per_1").unwrap() + 4;
    json[at] = b'2';
    let tampered = format!("CUBBY1.{}.{}", URL_SAFE_NO_PAD.encode(&json), parts[2]);
    assert_eq!(
        k.verifier.verify(&tampered, t(NOW), |_| true),
        Err(QrReject::BadSignature)
    );

    // Extend the expiry by a day: still a bad signature.
    let mut c = claims("per_1", NOW, NOW + 300);
    c.exp += 86_400;
    let json = serde_json::to_vec(&c).unwrap();
    let extended = format!("CUBBY1.{}.{}", URL_SAFE_NO_PAD.encode(json), parts[2]);
    assert_eq!(
        k.verifier.verify(&extended, t(NOW), payers),
        Err(QrReject::BadSignature)
    );

    // Flip one bit of the signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        k.verifier.verify(&bad_sig, t(NOW), payers),
        Err(QrReject::BadSignature)
    );

    // Lower-casing the prefix is not the signed text either.
    assert!(matches!(
        k.verifier
            .verify(&code.replacen("CUBBY1", "cubby1", 1), t(NOW), payers),
        Err(QrReject::NotCubby(_))
    ));
}

#[test]
fn verification_is_strict_about_weak_keys() {
    // The identity point as public key with R = identity, s = 0 passes the plain
    // (cofactorless) Ed25519 equation for ANY message; verify_strict must refuse it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak_key = QrKey {
        kid: "k1".into(),
        ed25519_public: STANDARD.encode(identity),
    };
    let verifier = QrVerifier::new(&[weak_key]);
    let json = serde_json::to_vec(&claims("per_1", NOW, NOW + 300)).unwrap();
    let signed = format!("CUBBY1.{}", URL_SAFE_NO_PAD.encode(json));
    let mut sig = [0u8; 64];
    sig[0] = 1;
    // Sanity: the lax check really accepts this forgery.
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
    assert!(vk
        .verify(signed.as_bytes(), &Signature::from_bytes(&sig))
        .is_ok());
    let code = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        verifier.verify(&code, t(NOW), payers),
        Err(QrReject::BadSignature)
    );
}

#[test]
fn expiry_with_120_s_skew_on_both_sides() {
    let k = keys();
    let code = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    let exp = NOW + 300;
    assert!(k.verifier.verify(&code, t(exp), payers).is_ok());
    assert!(k.verifier.verify(&code, t(exp + 119), payers).is_ok());
    assert!(k.verifier.verify(&code, t(exp + 120), payers).is_ok());
    assert_eq!(
        k.verifier.verify(&code, t(exp + 121), payers),
        Err(QrReject::Expired { ago_s: 121 })
    );
    // Half a second past the edge is already too late.
    let just_after = t(exp + 120) + chrono::Duration::milliseconds(500);
    assert!(matches!(
        k.verifier.verify(&code, just_after, payers),
        Err(QrReject::Expired { .. })
    ));
    assert!(matches!(
        k.verifier.verify(&code, t(exp + 86_400), payers),
        Err(QrReject::Expired { .. })
    ));

    // Issued in the future: tolerated up to the skew, refused beyond.
    let future = sign_code(&k.hub, &claims("per_1", NOW + 120, NOW + 600));
    assert!(k.verifier.verify(&future, t(NOW), payers).is_ok());
    let far = sign_code(&k.hub, &claims("per_1", NOW + 121, NOW + 600));
    assert_eq!(
        k.verifier.verify(&far, t(NOW), payers),
        Err(QrReject::NotYetValid { ahead_s: 121 })
    );
    let year = sign_code(&k.hub, &claims("per_1", NOW + 31_536_000, NOW + 31_536_300));
    assert!(matches!(
        k.verifier.verify(&year, t(NOW), payers),
        Err(QrReject::NotYetValid { .. })
    ));
}

#[test]
fn truncated_and_junk_codes_are_refused() {
    let k = keys();
    let code = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    let second_dot = code.rfind('.').unwrap();
    // Signature cut short.
    assert!(matches!(
        k.verifier.verify(&code[..code.len() - 6], t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    // Signature missing (cut at the dot, and just after it).
    assert!(matches!(
        k.verifier.verify(&code[..second_dot], t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    assert!(matches!(
        k.verifier.verify(&code[..second_dot + 1], t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    // Payload cut short.
    assert!(matches!(
        k.verifier.verify(&code[..20], t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    assert!(matches!(
        k.verifier.verify("CUBBY1.", t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    // An extra part.
    assert!(matches!(
        k.verifier.verify(&format!("{code}.x"), t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    // Base64 of JSON that is not the claims.
    let not_claims = format!(
        "CUBBY1.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"hello":1}"#),
        &code[second_dot + 1..]
    );
    assert!(matches!(
        k.verifier.verify(&not_claims, t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));

    // Binary junk, other QR codes, empty scans, absurd lengths.
    let junk_bytes: Vec<u8> = (0u8..=255).rev().collect();
    let junk = String::from_utf8_lossy(&junk_bytes).into_owned();
    for text in [
        junk.as_str(),
        "https://example.com/menu",
        "",
        "\u{0}\u{1}\u{2}",
        "CUBBY2.abc.def",
    ] {
        assert!(
            matches!(
                k.verifier.verify(text, t(NOW), payers),
                Err(QrReject::NotCubby(_))
            ),
            "{text:?}"
        );
    }
    let junk_after_prefix = format!("CUBBY1.{junk}.{junk}");
    assert!(matches!(
        k.verifier.verify(&junk_after_prefix, t(NOW), payers),
        Err(QrReject::Malformed(_))
    ));
    let huge = format!("{code}{}", "A".repeat(5000));
    assert!(matches!(
        k.verifier.verify(&huge, t(NOW), payers),
        Err(QrReject::NotCubby(_))
    ));
}

#[test]
fn only_active_payers_are_accepted() {
    let k = keys();
    let pickup = sign_code(&k.hub, &claims("per_3", NOW, NOW + 300));
    let r = k.verifier.verify(&pickup, t(NOW), payers);
    assert_eq!(
        r,
        Err(QrReject::NotPayer {
            pid: "per_3".into()
        })
    );
    let reject = r.unwrap_err();
    assert_eq!(reject.code(), "not_payer");
    assert_eq!(reject.screen_text(), SCREEN_TEXT);
    // The payer lookup is asked about the signed person, and only after the signature.
    let asked = std::cell::RefCell::new(Vec::new());
    let forged = sign_code(
        &SigningKey::generate(&mut rand::rngs::OsRng),
        &claims("per_1", NOW, NOW + 300),
    );
    let _ = k.verifier.verify(&forged, t(NOW), |p| {
        asked.borrow_mut().push(p.to_string());
        true
    });
    assert!(asked.borrow().is_empty());
}

#[test]
fn reasons_for_the_log_never_contain_the_code() {
    let k = keys();
    let code = sign_code(&k.hub, &claims("per_1", NOW, NOW + 300));
    let payload = code.split('.').nth(1).unwrap();
    let sig = code.split('.').nth(2).unwrap();
    let mut forged = code.clone();
    forged.replace_range(code.len() - 3.., "AAA");
    let cases = [
        k.verifier.verify(&code, t(NOW + 1000), payers),
        k.verifier.verify(&forged, t(NOW), payers),
        k.verifier.verify(&code, t(NOW), |_| false),
        k.verifier.verify(&code[..40], t(NOW), payers),
    ];
    for r in cases {
        let reason = r.unwrap_err().to_string();
        assert!(!reason.contains(payload), "{reason}");
        assert!(!reason.contains(&sig[..20]), "{reason}");
        assert!(!reason.contains("nonce-1"), "{reason}");
    }
}

#[test]
fn same_code_within_3_s_counts_once() {
    let base = t(NOW);
    let ms = chrono::Duration::milliseconds;
    let mut d = Dedup::default();
    assert!(d.accept("CUBBY1.a.b", base));
    assert!(!d.accept("CUBBY1.a.b", base + ms(500)));
    assert!(!d.accept("CUBBY1.a.b\r\n", base + ms(900)));
    // Another code is not affected.
    assert!(d.accept("CUBBY1.c.d", base + ms(1000)));
    // 3 s after the previous scan of the code it counts again.
    assert!(d.accept("CUBBY1.a.b", base + ms(900) + ms(3000)));

    let mut d = Dedup::default();
    assert!(d.accept("X", base));
    assert!(!d.accept("X", base + ms(2999)));
    let mut d = Dedup::default();
    assert!(d.accept("X", base));
    assert!(d.accept("X", base + ms(3001)));
}

// ------------------------------------------------------------------ hub minting, end to end

#[tokio::test]
async fn hub_qr_output_verifies_against_enrollment_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.sqlite");
    let hub = cubby::hub::start(cubby::hub::HubOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: db.clone(),
        seed_demo: true,
        faults: Default::default(),
    })
    .await
    .unwrap();
    let code = cubby::hub::create_enroll_code(&db).unwrap();
    let enrolled: EnrollResponse = reqwest::Client::new()
        .post(format!("{}/api/v1/devices/enroll", hub.url()))
        .json(&serde_json::json!({"code": code, "name": "Front door", "version": "0.1.0"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(enrolled.qr_keys.len(), 1);
    assert_eq!(enrolled.qr_keys[0].kid, "k1");
    let verifier = QrVerifier::new(&enrolled.qr_keys);
    assert_eq!(verifier.key_count(), 1);

    // The real binary, while the hub is serving from the same database.
    let png_path = dir.path().join("dana.png");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cubby"))
        .args(["hub", "qr", "--db"])
        .arg(&db)
        .args(["per_01a", "--ttl", "600", "--png"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let text = text.trim_end();
    assert!(text.starts_with("CUBBY1."), "{text}");
    assert_eq!(text.lines().count(), 1);
    let now = Utc::now();
    assert_eq!(
        verifier.verify(text, now, |p| p == "per_01a"),
        Ok("per_01a".into())
    );
    // ttl 600: still fine at +600+120, expired after.
    assert!(verifier
        .verify(text, now + chrono::Duration::seconds(600 + 100), |_| true)
        .is_ok());
    assert!(matches!(
        verifier.verify(text, now + chrono::Duration::seconds(600 + 130), |_| true),
        Err(QrReject::Expired { .. })
    ));
    assert_png_is_qr_of(&png_path, text);

    // The library function gives codes for the same key.
    let lib = cubby::hub::mint_qr(&db, "per_01a", 300, now).unwrap();
    assert_ne!(lib, text);
    assert!(verifier.verify(&lib, now, |_| true).is_ok());

    // Pickups (not payers) and unknown people get no code.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cubby"))
        .args(["hub", "qr", "--db"])
        .arg(&db)
        .arg("per_01p")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a payer"));
    assert!(cubby::hub::mint_qr(&db, "per_nobody", 300, now).is_err());

    // A second enrollment gets the same key.
    let code2 = cubby::hub::create_enroll_code(&db).unwrap();
    let again: EnrollResponse = reqwest::Client::new()
        .post(format!("{}/api/v1/devices/enroll", hub.url()))
        .json(&serde_json::json!({"code": code2, "name": "Side door", "version": "0.1.0"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again.qr_keys, enrolled.qr_keys);
    hub.shutdown().await;
}

/// The PNG shows exactly the QR modules of `text` (8 px each, 4-module quiet zone).
fn assert_png_is_qr_of(path: &Path, text: &str) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let expected =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).unwrap();
    let n = expected.width();
    let side = info.width as usize;
    assert_eq!(side, (n + 8) * 8);
    let colors = expected.to_colors();
    for y in 0..n {
        for x in 0..n {
            let px = buf[((y + 4) * 8 + 4) * side + (x + 4) * 8 + 4];
            let dark = colors[y * n + x] == qrcode::Color::Dark;
            assert_eq!(px == 0, dark, "module ({x},{y})");
        }
    }
    // The quiet zone is white.
    assert!(buf[..side * 32].iter().all(|p| *p == 255));
}

// ------------------------------------------------------------------ HID decoding

fn tap(k: KeyCode) -> Vec<(u16, i32)> {
    vec![(k.code(), KEY_PRESSED), (k.code(), KEY_RELEASED)]
}

fn shifted(k: KeyCode) -> Vec<(u16, i32)> {
    let s = KeyCode::KEY_LEFTSHIFT.code();
    vec![
        (s, KEY_PRESSED),
        (k.code(), KEY_PRESSED),
        (k.code(), KEY_RELEASED),
        (s, KEY_RELEASED),
    ]
}

fn seq(parts: Vec<Vec<(u16, i32)>>) -> Vec<(u16, i32)> {
    parts.into_iter().flatten().collect()
}

#[test]
fn linux_key_codes_are_the_kernel_abi() {
    assert_eq!(KeyCode::KEY_A.code(), 30);
    assert_eq!(KeyCode::KEY_1.code(), 2);
    assert_eq!(KeyCode::KEY_DOT.code(), 52);
    assert_eq!(KeyCode::KEY_ENTER.code(), 28);
    assert_eq!(KeyCode::KEY_LEFTSHIFT.code(), 42);
}

#[test]
fn hid_sequences_decode_with_shift_digits_dots_and_enter() {
    use KeyCode as K;
    let events = seq(vec![
        shifted(K::KEY_C),
        shifted(K::KEY_U),
        shifted(K::KEY_B),
        shifted(K::KEY_B),
        shifted(K::KEY_Y),
        tap(K::KEY_1),
        tap(K::KEY_DOT),
        tap(K::KEY_E),
        shifted(K::KEY_Y),
        tap(K::KEY_MINUS),
        shifted(K::KEY_MINUS),
        tap(K::KEY_0),
        tap(K::KEY_9),
        tap(K::KEY_DOT),
        tap(K::KEY_Z),
        tap(K::KEY_ENTER),
    ]);
    assert_eq!(decode_keys(events), vec!["CUBBY1.eY-_09.z".to_string()]);

    // Right shift, shifted punctuation and two scans in a row.
    let events = seq(vec![
        vec![(K::KEY_RIGHTSHIFT.code(), KEY_PRESSED)],
        tap(K::KEY_1),
        tap(K::KEY_SLASH),
        vec![(K::KEY_RIGHTSHIFT.code(), KEY_RELEASED)],
        tap(K::KEY_SLASH),
        tap(K::KEY_ENTER),
        tap(K::KEY_X),
        tap(K::KEY_KPENTER),
    ]);
    assert_eq!(
        decode_keys(events),
        vec!["!?/".to_string(), "x".to_string()]
    );

    // Caps lock inverts letters only; shift under caps lock gives lower case.
    let events = seq(vec![
        tap(K::KEY_CAPSLOCK),
        tap(K::KEY_A),
        shifted(K::KEY_B),
        tap(K::KEY_2),
        tap(K::KEY_CAPSLOCK),
        tap(K::KEY_C),
        tap(K::KEY_ENTER),
    ]);
    assert_eq!(decode_keys(events), vec!["Ab2c".to_string()]);
}

#[test]
fn hid_garbage_keys_are_ignored() {
    use KeyCode as K;
    let ctrl = K::KEY_LEFTCTRL.code();
    let alt = K::KEY_LEFTALT.code();
    let events = seq(vec![
        tap(K::KEY_ENTER), // empty scan: nothing
        tap(K::KEY_F1),
        tap(K::KEY_ESC),
        tap(K::KEY_UP),
        vec![(0x2ff, KEY_PRESSED), (0x2ff, KEY_RELEASED)], // unknown code
        vec![(0x110, KEY_PRESSED), (0x110, KEY_RELEASED)], // BTN_LEFT
        tap(K::KEY_A),
        vec![
            (K::KEY_B.code(), KEY_PRESSED),
            (K::KEY_B.code(), KEY_REPEATED),
        ],
        vec![(K::KEY_B.code(), KEY_RELEASED)],
        vec![(ctrl, KEY_PRESSED)],
        tap(K::KEY_C), // Ctrl+C types nothing
        vec![(ctrl, KEY_RELEASED), (alt, KEY_PRESSED)],
        tap(K::KEY_KP6), // Alt+keypad code types nothing
        vec![(alt, KEY_RELEASED)],
        tap(K::KEY_C),
        vec![(K::KEY_D.code(), 7)], // nonsense value
        tap(K::KEY_ENTER),
    ]);
    assert_eq!(decode_keys(events), vec!["abc".to_string()]);
}

#[test]
fn hid_over_long_scan_is_dropped_and_next_one_works() {
    let mut d = HidDecoder::new(16);
    for _ in 0..40 {
        for (c, v) in tap(KeyCode::KEY_A) {
            assert_eq!(d.feed(c, v), None);
        }
    }
    let enter = KeyCode::KEY_ENTER.code();
    assert_eq!(d.feed(enter, KEY_PRESSED), None);
    d.feed(enter, KEY_RELEASED);
    for (c, v) in tap(KeyCode::KEY_7) {
        d.feed(c, v);
    }
    assert_eq!(d.feed(enter, KEY_PRESSED), Some("7".to_string()));
    // Exactly the maximum is still accepted.
    let mut d = HidDecoder::new(4);
    for (c, v) in seq(vec![tap(KeyCode::KEY_1); 4]) {
        d.feed(c, v);
    }
    assert_eq!(d.feed(enter, KEY_PRESSED), Some("1111".to_string()));
}

// ------------------------------------------------------------------ serial decoding

#[test]
fn serial_lines_split_on_cr_lf_crlf_and_drop_long_lines() {
    let mut s = LineSplitter::new(32);
    assert_eq!(
        s.push(b"one\rtwo\nthree\r\nfo"),
        vec!["one", "two", "three"]
    );
    assert_eq!(s.push(b"ur\r\n\r\n\n"), vec!["four"]);
    let mut long = vec![b'A'; 100];
    long.extend_from_slice(b"\r\nfive\n");
    assert_eq!(s.push(&long), vec!["five"]);
    // STX/ETX framing and NULs are trimmed; a line of only control bytes is nothing.
    assert_eq!(s.push(b"\x02six\x03\r\n\x00\x00\n"), vec!["six"]);
    assert_eq!(s.push(&[0xff, 0xfe, b'\n']), vec!["\u{fffd}\u{fffd}"]);
}

// ------------------------------------------------------------------ serial scanner on a pty

struct Pty {
    master: Option<OwnedFd>,
    slave_path: PathBuf,
}

fn open_pty() -> Pty {
    let cubby::devices::pty::PtyPair {
        master,
        slave,
        slave_path,
    } = cubby::devices::pty::open().expect("openpty");
    // The scanner opens the slave by name; the master keeps the pty alive.
    drop(slave);
    Pty {
        master: Some(master),
        slave_path,
    }
}

impl Pty {
    fn write(&self, bytes: &[u8]) {
        use std::io::Write;
        let fd = self.master.as_ref().unwrap().try_clone().unwrap();
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes).unwrap();
    }

    /// Unplug: close the master side.
    fn unplug(&mut self) {
        self.master.take();
    }
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn recv_n(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("a scan"))
        .collect()
}

#[test]
fn serial_scanner_on_a_pty_reads_lines_and_survives_unplug() {
    let dir = tempfile::tempdir().unwrap();
    // A udev-style stable name pointing at the current pty.
    let link = dir.path().join("cubby-scanner");
    let mut pty = open_pty();
    std::os::unix::fs::symlink(&pty.slave_path, &link).unwrap();

    let (tx, rx) = mpsc::channel();
    let opts = ScannerOptions {
        retry_every: Duration::from_millis(200),
        stale_after: Duration::from_millis(500),
        max_len: 64,
    };
    let scanner = Scanner::spawn_serial(&link, 9600, tx, opts);
    wait_for("scanner ok", Duration::from_secs(5), || {
        scanner.status().is_ok()
    });

    pty.write(b"CUBBY1.one\rtwo\nthree\r\n");
    pty.write(&[b'X'; 200]);
    pty.write(b"\r\nfi");
    std::thread::sleep(Duration::from_millis(50));
    pty.write(b"ve\r\n");
    assert_eq!(recv_n(&rx, 4), vec!["CUBBY1.one", "two", "three", "five"]);

    // A partial line left hanging is discarded, not glued to the next scan.
    pty.write(b"half");
    std::thread::sleep(Duration::from_millis(900));
    pty.write(b"six\n");
    assert_eq!(recv_n(&rx, 1), vec!["six"]);

    // Unplug: absent, retried.
    pty.unplug();
    wait_for("scanner absent", Duration::from_secs(5), || {
        scanner.status().state == DeviceState::Absent
    });
    assert!(rx.try_recv().is_err());

    // Replug (the stable name now points at a new pty): ok again, scans flow.
    let pty2 = open_pty();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&pty2.slave_path, &link).unwrap();
    wait_for("scanner ok again", Duration::from_secs(5), || {
        scanner.status().is_ok()
    });
    pty2.write(b"seven\r\n");
    assert_eq!(recv_n(&rx, 1), vec!["seven"]);
    scanner.stop();
}

#[test]
fn missing_scanner_devices_are_absent_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-scanner");
    let (tx, _rx) = mpsc::channel::<String>();
    let opts = ScannerOptions {
        retry_every: Duration::from_millis(100),
        ..ScannerOptions::default()
    };
    let serial = Scanner::spawn_serial(&path, 9600, tx.clone(), opts);
    let hid = Scanner::spawn_hid(&path, tx, opts);
    for s in [&serial, &hid] {
        wait_for("absent", Duration::from_secs(5), || {
            s.status().to_string().starts_with("absent: no device at")
        });
        assert!(
            s.status().reason.contains("no-such-scanner"),
            "{}",
            s.status()
        );
    }
    // A file that is not an input device is a fault, not a crash.
    let not_input = dir.path().join("plain-file");
    std::fs::write(&not_input, b"x").unwrap();
    let (tx, _rx) = mpsc::channel::<String>();
    let hid = Scanner::spawn_hid(&not_input, tx, opts);
    wait_for("fault", Duration::from_secs(5), || {
        hid.status().state == DeviceState::Fault
    });
}

// ------------------------------------------------------------------ GPIO

#[test]
fn strike_pulses_after_check_in_only_when_enabled_never_on_refusal() {
    let mut io = SimulatedIo::new(4000);
    let log = io.log();
    door_feedback(&mut io, DoorOutcome::CheckedIn, true);
    assert_eq!(log.strike_pulses(), vec![4000]);
    let actions = log.actions();
    assert!(actions.contains(&IoAction::LedFlash {
        led: Led::Green,
        ms: cubby::devices::gpio::FEEDBACK_LED_MS
    }));
    assert!(actions.contains(&IoAction::Buzz {
        pattern: Buzz::Success
    }));

    door_feedback(&mut io, DoorOutcome::CheckedOut, true);
    assert_eq!(log.strike_pulses(), vec![4000, 4000]);

    log.clear();
    door_feedback(&mut io, DoorOutcome::Refused, true);
    assert!(log.strike_pulses().is_empty());
    let actions = log.actions();
    assert!(actions
        .iter()
        .any(|a| matches!(a, IoAction::LedFlash { led: Led::Red, .. })));
    assert!(actions.contains(&IoAction::Buzz {
        pattern: Buzz::Refusal
    }));
    assert!(!actions.iter().any(|a| matches!(
        a,
        IoAction::LedFlash {
            led: Led::Green,
            ..
        }
    )));

    log.clear();
    door_feedback(&mut io, DoorOutcome::CheckedIn, false);
    door_feedback(&mut io, DoorOutcome::CheckedOut, false);
    assert!(log.strike_pulses().is_empty());
    assert!(log.actions().contains(&IoAction::Buzz {
        pattern: Buzz::Success
    }));
}

#[test]
fn relay_is_locked_at_start_and_on_drop() {
    let io = SimulatedIo::new(3000);
    let log = io.log();
    assert_eq!(log.actions(), vec![IoAction::StrikeLocked]);
    let mut boxed: Box<dyn DoorIo> = Box::new(io);
    door_feedback(boxed.as_mut(), DoorOutcome::CheckedIn, true);
    drop(boxed);
    let entries = log.entries();
    assert_eq!(entries.first().unwrap().action, IoAction::StrikeLocked);
    assert_eq!(entries.last().unwrap().action, IoAction::StrikeLocked);
    let pulse_at = entries
        .iter()
        .position(|e| e.action == IoAction::StrikePulse { ms: 3000 })
        .unwrap();
    assert!(pulse_at > 0 && pulse_at < entries.len() - 1);
    assert!(entries.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn gpio_off_a_pi_is_absent_and_harmless() {
    let cfg: GpioConfig = toml::from_str(
        "led_green = 27\nled_red = 22\nbuzzer = 23\n[strike]\nenabled = true\npin = 17\n",
    )
    .unwrap();
    let mut io = if Path::new("/dev/gpiochip0").exists() {
        // A machine with GPIO: the absent path is exercised with a chip that is not there.
        let mut cfg = cfg.clone();
        cfg.chip = Some("/nonexistent/gpiochip".into());
        open_door_io(&cfg)
    } else {
        open_door_io(&cfg)
    };
    assert_eq!(io.status().state, DeviceState::Absent, "{}", io.status());
    door_feedback(io.as_mut(), DoorOutcome::CheckedIn, true);
    let mut absent = AbsentIo::new("");
    absent.pulse_strike(100);
    assert_eq!(absent.status().to_string(), "absent");
}

// ------------------------------------------------------------------ self-test

#[test]
fn selftest_reports_and_exit_code() {
    let scanner = Scanner::none();
    let gpio = AbsentIo::new("no GPIO chip (/dev/gpiochip*) on this machine");
    let sim = SimulatedIo::new(3000);
    let reports = selftest::build_reports([
        ("fingerprint", sim.status()),
        ("scanner", scanner.status()),
        ("gpio", gpio.status()),
    ]);
    assert_eq!(
        reports.iter().map(|r| r.state).collect::<Vec<_>>(),
        vec![DeviceState::Ok, DeviceState::Absent, DeviceState::Absent]
    );
    assert_eq!(reports[1].reason, "not configured");
    assert_eq!(selftest::exit_code(&reports), 0);
    let text = selftest::render_text(&reports);
    assert!(text.contains("gpio"), "{text}");
    assert!(text.contains("no GPIO chip"), "{text}");

    let faulty = selftest::build_reports([
        (
            "scanner",
            DeviceHealth::fault("permission denied on /dev/input/cubby-scanner"),
        ),
        ("gpio", DeviceHealth::ok()),
    ]);
    assert_eq!(selftest::exit_code(&faulty), 1);
    let v: serde_json::Value = serde_json::from_str(&selftest::render_json(&faulty)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["devices"][0]["name"], "scanner");
    assert_eq!(v["devices"][0]["state"], "fault");
    assert_eq!(
        v["devices"][0]["reason"],
        "permission denied on /dev/input/cubby-scanner"
    );
}

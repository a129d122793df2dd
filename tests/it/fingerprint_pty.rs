//! Black-box tests of the fingerprint reader: the real serial driver ([`R30x`]) and the
//! reader service against the module emulator over a real pseudo-terminal, plus a check
//! that an existing host driver (Adafruit's CircuitPython library, through pyserial) works
//! against the emulator unchanged when python3 and the package are installed.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use cubby::devices::fingerprint::codec::instruction as ins;
use cubby::devices::fingerprint::module::AuraState;
use cubby::devices::fingerprint::service::FingerprintEvent;
use cubby::devices::fingerprint::{
    identity_from_str, spawn_emulator, Confirmation, DeviceStatus, EmulatorHandle, EmulatorOptions,
    EnrollProgress, FingerprintError, FingerprintReader, FingerprintService, LedState, Match, R30x,
    ReaderConfig, Scan, ServiceOptions, Slot,
};

fn emulator(options: EmulatorOptions) -> EmulatorHandle {
    spawn_emulator(options).expect("emulator on a pty")
}

fn config(emu: &EmulatorHandle) -> ReaderConfig {
    ReaderConfig {
        path: emu.path().to_path_buf(),
        reply_timeout: Duration::from_millis(500),
        finger_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(5),
        ..ReaderConfig::default()
    }
}

fn open(emu: &EmulatorHandle) -> R30x {
    R30x::open(&config(emu)).expect("driver opens the emulator")
}

/// Enrolls `identity`, playing the person: finger on when asked, off when asked.
fn enroll_as(
    reader: &mut R30x,
    emu: &EmulatorHandle,
    identity: u64,
    captures: usize,
) -> (Result<Slot, FingerprintError>, Vec<EnrollProgress>) {
    let mut steps = Vec::new();
    let result = reader.enroll(captures, &mut |p| {
        match p {
            EnrollProgress::PlaceFinger { .. } => emu.place_finger(Some(identity)),
            EnrollProgress::LiftFinger => emu.remove_finger(),
            _ => {}
        }
        steps.push(p);
    });
    emu.remove_finger();
    (result, steps)
}

fn identify_as(reader: &mut R30x, emu: &EmulatorHandle, identity: Option<u64>) -> Option<Match> {
    emu.place_finger(identity);
    let m = reader.identify().expect("identify");
    emu.remove_finger();
    m
}

#[test]
fn password_right_and_wrong_handshake_and_system_parameters() {
    let emu = emulator(EmulatorOptions {
        password: 0xDEAD_BEEF,
        ..EmulatorOptions::default()
    });
    let err = R30x::open(&config(&emu))
        .err()
        .expect("wrong password refused");
    assert_eq!(err.confirmation(), Some(Confirmation::WrongPassword));
    assert_eq!(
        err.status().to_string(),
        "fault: wrong reader password (check the fingerprint password in the config)"
    );

    let mut reader = R30x::open(&ReaderConfig {
        password: 0xDEAD_BEEF,
        ..config(&emu)
    })
    .expect("right password accepted");
    let p = *reader.parameters();
    assert_eq!(p.capacity, 200);
    assert_eq!(p.security_level, 3);
    assert_eq!(p.packet_size, 128);
    assert_eq!(p.baud, 57_600);
    assert_eq!(p.address, 0xFFFF_FFFF);
    assert_ne!(p.status & 0b100, 0, "password-verified bit set");
    assert_eq!(reader.status(), DeviceStatus::Ok);
    reader.handshake().expect("HandShake 0x40");
    drop(reader); // ports are opened exclusively

    // A module at another address stays silent: a timeout, reported as a fault.
    let err = R30x::open(&ReaderConfig {
        address: 0x1234_5678,
        password: 0xDEAD_BEEF,
        reply_timeout: Duration::from_millis(200),
        ..config(&emu)
    })
    .err()
    .expect("wrong address gets no reply");
    assert!(matches!(err, FingerprintError::Timeout(_)), "{err}");
    assert_eq!(err.status().to_string(), "fault: no reply from the reader");
}

#[test]
fn capacity_comes_from_the_module_not_a_constant() {
    let emu = emulator(EmulatorOptions {
        capacity: 300,
        ..EmulatorOptions::default()
    });
    for slot in 0..260 {
        assert!(emu.store_template(slot, 1000 + u64::from(slot)));
    }
    emu.store_template(299, 7);
    let mut reader = open(&emu);
    assert_eq!(reader.parameters().capacity, 300);
    let slots = reader.enrolled_slots().unwrap();
    assert_eq!(slots.len(), 261);
    assert_eq!(slots.last(), Some(&299));
    // The free slot is found on the second index page.
    let alice = identity_from_str("per_alice");
    let (slot, _) = enroll_as(&mut reader, &emu, alice, 2);
    assert_eq!(slot.unwrap(), 260);
    assert_eq!(
        identify_as(&mut reader, &emu, Some(alice)),
        Some(Match {
            slot: 260,
            score: 120
        })
    );
}

#[test]
fn enroll_two_identities_identify_delete_and_empty() {
    let emu = emulator(EmulatorOptions::default());
    // Slots 0 and 2 are taken: enrollment must use the index table, not a counter.
    emu.store_template(0, 900);
    emu.store_template(2, 901);
    let mut reader = open(&emu);
    let alice = identity_from_str("per_01a");
    let bob = identity_from_str("per_02b");

    let (slot, steps) = enroll_as(&mut reader, &emu, alice, 2);
    assert_eq!(slot.unwrap(), 1);
    assert_eq!(
        steps,
        vec![
            EnrollProgress::PlaceFinger { capture: 1, of: 2 },
            EnrollProgress::Captured { capture: 1, of: 2 },
            EnrollProgress::LiftFinger,
            EnrollProgress::PlaceFinger { capture: 2, of: 2 },
            EnrollProgress::Captured { capture: 2, of: 2 },
            EnrollProgress::Stored { slot: 1 },
        ]
    );
    let (slot, steps) = enroll_as(&mut reader, &emu, bob, 3);
    assert_eq!(slot.unwrap(), 3);
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, EnrollProgress::Captured { .. }))
            .count(),
        3
    );
    assert_eq!(
        emu.templates(),
        vec![(0, 900), (1, alice), (2, 901), (3, bob)]
    );

    assert_eq!(
        identify_as(&mut reader, &emu, Some(alice)),
        Some(Match {
            slot: 1,
            score: 120
        })
    );
    assert_eq!(
        identify_as(&mut reader, &emu, Some(bob)),
        Some(Match {
            slot: 3,
            score: 120
        })
    );
    assert_eq!(identify_as(&mut reader, &emu, None), None);
    assert_eq!(reader.scan().unwrap(), Scan::NoFinger);
    let stranger = identify_as(&mut reader, &emu, Some(identity_from_str("stranger")));
    assert_eq!(stranger, None);
    emu.place_finger(Some(identity_from_str("stranger")));
    assert_eq!(reader.scan().unwrap(), Scan::NoMatch);
    emu.remove_finger();

    assert_eq!(reader.template_count().unwrap(), 4);
    assert_eq!(reader.enrolled_slots().unwrap(), vec![0, 1, 2, 3]);

    reader.delete(1).unwrap();
    assert_eq!(identify_as(&mut reader, &emu, Some(alice)), None);
    assert_eq!(reader.template_count().unwrap(), 3);
    assert!(matches!(
        reader.delete(200),
        Err(FingerprintError::Invalid(_))
    ));

    reader.empty().unwrap();
    assert_eq!(reader.template_count().unwrap(), 0);
    assert_eq!(identify_as(&mut reader, &emu, Some(bob)), None);
    assert!(emu.templates().is_empty());
}

#[test]
fn enrollment_refuses_duplicates_mismatches_and_a_full_library() {
    let emu = emulator(EmulatorOptions {
        capacity: 3,
        ..EmulatorOptions::default()
    });
    let mut reader = open(&emu);
    let alice = identity_from_str("per_alice");
    assert_eq!(enroll_as(&mut reader, &emu, alice, 2).0.unwrap(), 0);

    let dup = enroll_as(&mut reader, &emu, alice, 2).0.unwrap_err();
    assert!(
        matches!(dup, FingerprintError::AlreadyEnrolled { slot: 0 }),
        "{dup}"
    );

    // First capture one finger, second another: the merge fails.
    let mut n = 0;
    let err = reader
        .enroll(2, &mut |p| match p {
            EnrollProgress::PlaceFinger { capture, .. } => {
                n = capture;
                emu.place_finger(Some(if capture == 1 { 11 } else { 22 }))
            }
            EnrollProgress::LiftFinger => emu.remove_finger(),
            _ => {}
        })
        .unwrap_err();
    assert_eq!(n, 2);
    assert_eq!(err.confirmation(), Some(Confirmation::MergeFailed));
    assert!(err.to_string().contains("same finger"), "{err}");
    assert_eq!(emu.led().map(|l| l.color), Some(1), "red after a failure");

    emu.store_template(1, 5);
    emu.store_template(2, 6);
    let mut asked = false;
    let err = reader.enroll(2, &mut |_| asked = true).unwrap_err();
    assert!(
        matches!(err, FingerprintError::LibraryFull { capacity: 3 }),
        "{err}"
    );
    assert!(
        !asked,
        "a full library is reported before asking for a finger"
    );
    assert!(matches!(
        reader.enroll(1, &mut |_| {}),
        Err(FingerprintError::Invalid(_))
    ));
}

#[test]
fn score_threshold_bad_images_and_module_errors_are_typed() {
    let emu = emulator(EmulatorOptions::default());
    let alice = identity_from_str("per_alice");
    emu.store_template(4, alice);
    let mut reader = R30x::open(&ReaderConfig {
        min_score: 50,
        ..config(&emu)
    })
    .unwrap();

    emu.set_score(30);
    emu.place_finger(Some(alice));
    assert_eq!(
        reader.scan().unwrap(),
        Scan::BelowThreshold(Match { slot: 4, score: 30 })
    );
    assert_eq!(reader.identify().unwrap(), None);
    emu.set_score(50);
    assert_eq!(
        reader.identify().unwrap(),
        Some(Match { slot: 4, score: 50 })
    );

    emu.fail_next(ins::IMG2TZ, 0x06);
    assert_eq!(
        reader.scan().unwrap(),
        Scan::BadImage(Confirmation::ImageMessy)
    );
    emu.fail_next(ins::GEN_IMG, 0x03);
    assert_eq!(
        reader.scan().unwrap(),
        Scan::BadImage(Confirmation::EnrollFailed)
    );
    emu.remove_finger();

    // A bad capture during enrollment is retried, not fatal.
    emu.fail_next(ins::IMG2TZ, 0x07);
    let bob = identity_from_str("per_bob");
    let (slot, steps) = enroll_as(&mut reader, &emu, bob, 2);
    assert_eq!(slot.unwrap(), 0);
    assert!(steps.iter().any(|s| matches!(
        s,
        EnrollProgress::Retry { capture: 1, reason } if reason.contains("features")
    )));

    // A flash failure on Store surfaces as a typed module error with a message.
    emu.fail_next(ins::STORE, 0x18);
    let carol = identity_from_str("per_carol");
    let err = enroll_as(&mut reader, &emu, carol, 2).0.unwrap_err();
    assert_eq!(err.confirmation(), Some(Confirmation::FlashError));
    assert_eq!(
        err.to_string(),
        "fingerprint reader Store failed: the reader failed to write its flash memory (code 0x18)"
    );
    emu.fail_next(ins::EMPTY, 0x11);
    assert_eq!(
        reader.empty().unwrap_err().confirmation(),
        Some(Confirmation::ClearFailed)
    );
}

#[test]
fn line_noise_between_and_inside_replies_is_survived() {
    let emu = emulator(EmulatorOptions::default());
    let alice = identity_from_str("per_alice");
    emu.store_template(7, alice);
    let mut reader = open(&emu);

    emu.inject_noise(&[0x00, 0xFF, 0x55, 0xEF, 0x13, 0x37]);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(reader.template_count().unwrap(), 1);

    // Garbage, a frame with a bad checksum and an ack for another module before every reply.
    let mut prefix = vec![0x00, 0x12, 0xEF, 0x00, 0x55];
    prefix.extend_from_slice(&[
        0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x03, 0x00, 0x00, 0x00,
    ]);
    let other = cubby::devices::fingerprint::codec::Packet::ack(0x1234_5678, 0x00, &[0, 0, 0, 9]);
    prefix.extend(other.encode().unwrap());
    emu.set_reply_prefix(&prefix);
    assert_eq!(
        identify_as(&mut reader, &emu, Some(alice)),
        Some(Match {
            slot: 7,
            score: 120
        })
    );
    assert_eq!(reader.template_count().unwrap(), 1);
    assert!(reader.noise_events() >= 3, "noise was seen and skipped");

    // A false header that announces a long frame: the real reply is found after it.
    emu.set_reply_prefix(&[0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0xC8]);
    assert_eq!(reader.template_count().unwrap(), 1);
    emu.set_reply_prefix(&[]);
    assert_eq!(reader.enrolled_slots().unwrap(), vec![7]);
}

#[test]
fn unplug_is_an_error_and_absent_then_replug_works_again() {
    let emu = emulator(EmulatorOptions::default());
    let alice = identity_from_str("per_alice");
    emu.store_template(3, alice);
    let cfg = config(&emu);
    let mut reader = open(&emu);
    assert_eq!(reader.template_count().unwrap(), 1);

    emu.unplug();
    let err = reader.template_count().unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    assert_eq!(err.status(), DeviceStatus::Absent, "{err}");
    drop(reader);
    let err = R30x::open(&cfg).err().expect("nothing to open");
    assert_eq!(err.status(), DeviceStatus::Absent);
    assert_eq!(
        cubby::devices::fingerprint::driver::self_test(&cfg).to_string(),
        "absent"
    );

    emu.replug().unwrap();
    let mut reader = R30x::open(&cfg).expect("reopens after replug");
    assert_eq!(
        identify_as(&mut reader, &emu, Some(alice)),
        Some(Match {
            slot: 3,
            score: 120
        }),
        "the library survives the power cycle"
    );

    // A module that stops answering is a fault, not absent.
    emu.set_muted(true);
    let err = reader.template_count().unwrap_err();
    assert!(matches!(err, FingerprintError::Timeout(_)), "{err}");
    assert_eq!(
        reader.status().to_string(),
        "fault: no reply from the reader"
    );
    emu.set_muted(false);
    assert_eq!(reader.status(), DeviceStatus::Ok);
}

#[test]
fn ring_led_states_reach_the_module() {
    let emu = emulator(EmulatorOptions::default());
    let mut reader = open(&emu);
    reader.led(LedState::Success).unwrap();
    assert_eq!(
        emu.led(),
        Some(AuraState {
            control: 2,
            speed: 0x40,
            color: 3,
            times: 3
        })
    );
    reader.led(LedState::Idle).unwrap();
    assert_eq!(emu.led().map(|l| (l.control, l.color)), Some((1, 2)));
    reader.led(LedState::Failure).unwrap();
    assert_eq!(emu.led().map(|l| (l.control, l.color)), Some((2, 1)));
    // A module without a ring LED: the command is refused once, then never sent again.
    emu.fail_next(ins::AURA_LED_CONFIG, 0xFC);
    reader.led(LedState::Off).unwrap();
    let before = emu.bytes_received();
    reader.led(LedState::Idle).unwrap();
    assert_eq!(emu.bytes_received(), before);
}

fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<FingerprintEvent>,
    what: &str,
    mut want: impl FnMut(&FingerprintEvent) -> bool,
) -> FingerprintEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Ok(e) = rx.try_recv() {
            if want(&e) {
                return e;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn service_scans_enrolls_and_reopens_after_unplug() {
    let emu = emulator(EmulatorOptions::default());
    let alice = identity_from_str("per_alice");
    emu.store_template(0, alice);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let svc = FingerprintService::serial(
        config(&emu),
        ServiceOptions {
            reopen_every: Duration::from_millis(100),
            scan_every: Duration::from_millis(20),
            scanning: true,
        },
        tx,
    )
    .unwrap();
    next_event(&mut rx, "ok", |e| {
        *e == FingerprintEvent::Status(DeviceStatus::Ok)
    });
    assert_eq!(svc.status().to_string(), "ok");

    emu.place_finger(Some(alice));
    let e = next_event(&mut rx, "identified", |e| {
        matches!(e, FingerprintEvent::Identified(_))
    });
    assert_eq!(
        e,
        FingerprintEvent::Identified(Match {
            slot: 0,
            score: 120
        })
    );
    emu.place_finger(Some(identity_from_str("stranger")));
    // Same placement as far as the sensor knows: lift first.
    emu.remove_finger();
    thread::sleep(Duration::from_millis(100));
    emu.place_finger(Some(identity_from_str("stranger")));
    next_event(&mut rx, "not recognized", |e| {
        *e == FingerprintEvent::NotRecognized
    });
    emu.remove_finger();

    // Enrollment through the service, answering its prompts with one tap per capture.
    let bob = identity_from_str("per_bob");
    let pending = svc.enroll(2);
    loop {
        match next_event(&mut rx, "enroll step", |e| {
            matches!(e, FingerprintEvent::Enroll(_))
        }) {
            FingerprintEvent::Enroll(EnrollProgress::PlaceFinger { .. }) => emu.tap_finger(bob),
            FingerprintEvent::Enroll(EnrollProgress::Stored { .. }) => break,
            _ => {}
        }
    }
    assert_eq!(pending.wait_blocking().unwrap(), 1);
    assert_eq!(svc.template_count().wait_blocking().unwrap(), 2);

    emu.unplug();
    next_event(&mut rx, "absent", |e| {
        *e == FingerprintEvent::Status(DeviceStatus::Absent)
    });
    assert_eq!(svc.status().to_string(), "absent");
    assert_eq!(
        svc.status().screen_text(),
        "fingerprint reader disconnected"
    );
    assert!(svc
        .delete(0)
        .wait_blocking()
        .unwrap_err()
        .is_connection_lost());

    emu.replug().unwrap();
    next_event(&mut rx, "ok again", |e| {
        *e == FingerprintEvent::Status(DeviceStatus::Ok)
    });
    emu.place_finger(Some(bob));
    let e = next_event(&mut rx, "identified after replug", |e| {
        matches!(e, FingerprintEvent::Identified(_))
    });
    assert_eq!(
        e,
        FingerprintEvent::Identified(Match {
            slot: 1,
            score: 120
        })
    );
    svc.delete(1).wait_blocking().unwrap();
    assert_eq!(svc.enrolled_slots().wait_blocking().unwrap(), vec![0]);
}

/// Drives the emulator with Adafruit's CircuitPython fingerprint library (via pyserial).
const ADAFRUIT_SCRIPT: &str = r#"
import sys, serial, adafruit_fingerprint as af
path, phase = sys.argv[1], sys.argv[2]
uart = serial.Serial(path, baudrate=57600, timeout=1)
f = af.Adafruit_Fingerprint(uart)  # verify_password + read_sysparam, raises on failure
assert f.library_size == 200, f.library_size
assert f.read_templates() == af.OK
print("templates", f.templates)
if phase == "enroll":
    loc = int(sys.argv[3])
    for buf in (1, 2):
        assert f.get_image() == af.OK
        assert f.image_2_tz(buf) == af.OK
    assert f.create_model() == af.OK
    assert f.store_model(loc) == af.OK
    assert f.count_templates() == af.OK
    print("count", f.template_count)
    assert f.load_model(loc) == af.OK
    print("template_bytes", len(f.get_fpdata("char", 1)))
elif phase == "search":
    assert f.get_image() == af.OK
    assert f.image_2_tz(1) == af.OK
    print("search", f.finger_search(), f.finger_id, f.confidence)
elif phase == "nofinger":
    print("image", f.get_image())
elif phase == "led":
    print("led", f.set_led(color=2, mode=1))
elif phase == "delete":
    print("delete", f.delete_model(int(sys.argv[3])))
    f.count_templates()
    print("count", f.template_count)
"#;

fn python_with_adafruit() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import serial, adafruit_fingerprint"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 lacks pyserial/adafruit-circuitpython-fingerprint: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn run_py(script: &Path, link: &Path, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(script)
        .arg(link)
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "adafruit script {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn adafruit_python_driver_works_against_the_emulator_unchanged() {
    if let Err(reason) = python_with_adafruit() {
        println!("SKIPPED adafruit check: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("adafruit_check.py");
    std::fs::write(&script, ADAFRUIT_SCRIPT).unwrap();
    let emu = emulator(EmulatorOptions::default());
    let link = emu.path().to_path_buf();
    let alice = identity_from_str("per_alice");

    emu.place_finger(Some(alice));
    let out = run_py(&script, &link, &["enroll", "5"]);
    assert!(out.contains("templates []"), "{out}");
    assert!(out.contains("count 1"), "{out}");
    assert!(out.contains("template_bytes 512"), "{out}");
    assert_eq!(emu.templates(), vec![(5, alice)]);

    let out = run_py(&script, &link, &["search"]);
    assert!(out.contains("templates [5]"), "{out}");
    assert!(out.contains("search 0 5 120"), "{out}");

    // What Python enrolled, our driver identifies (and the other way round).
    let mut reader = open(&emu);
    assert_eq!(
        reader.identify().unwrap(),
        Some(Match {
            slot: 5,
            score: 120
        })
    );
    let bob = identity_from_str("per_bob");
    assert_eq!(enroll_as(&mut reader, &emu, bob, 2).0.unwrap(), 0);
    drop(reader);

    emu.place_finger(Some(bob));
    let out = run_py(&script, &link, &["search"]);
    assert!(out.contains("search 0 0 120"), "{out}");
    emu.place_finger(Some(identity_from_str("stranger")));
    let out = run_py(&script, &link, &["search"]);
    assert!(out.contains("search 9 0 0"), "{out}");
    emu.remove_finger();
    let out = run_py(&script, &link, &["nofinger"]);
    assert!(out.contains("image 2"), "{out}");
    let out = run_py(&script, &link, &["led"]);
    assert!(out.contains("led 0"), "{out}");
    assert_eq!(emu.led().map(|l| (l.control, l.color)), Some((1, 2)));
    let out = run_py(&script, &link, &["delete", "5"]);
    assert!(out.contains("delete 0") && out.contains("count 1"), "{out}");
    assert_eq!(emu.templates(), vec![(0, bob)]);
}

//! Frame → window: copies one `kiosk::frame::Frame` (screen + status bar) into the Slint
//! window's properties. A plain translation, no decisions: every word and state shown
//! comes from the kiosk state machine.

use slint::{Color, ModelRc, SharedString, VecModel};

use super::form::ProvisionForm;
use super::generated::*;
use cubby_core::kiosk::frame::{Frame, StatusBar};
use cubby_core::kiosk::screen::{
    ChildCard, ParkedRow, PersonRow, ReportRow, RollCallPerson, RoomCard, RosterRow, Screen, Tone,
};

fn s(text: &str) -> SharedString {
    SharedString::from(text)
}

fn opt(text: &Option<String>) -> SharedString {
    text.as_deref().map(SharedString::from).unwrap_or_default()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// A stable pastel for an avatar, from the person's id (same child, same colour).
pub fn tint(id: &str) -> Color {
    // FNV-1a: tiny, stable across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let hue = (h % 360) as f32;
    Color::from_hsva(hue, 0.28, 0.96, 1.0)
}

/// Copy the frame into the window.
pub fn apply(w: &AppWindow, frame: &Frame) {
    w.set_status(status(&frame.status));
    w.set_screen(s(frame.screen.name()));
    match &frame.screen {
        Screen::Home {
            center,
            clock,
            greeting,
        } => w.set_home(HomeData {
            center: s(center),
            clock: s(clock),
            greeting: s(greeting),
        }),
        Screen::Pin {
            entered,
            locked_for_s,
            message,
        } => w.set_pin(PinData {
            entered: count(*entered),
            locked_for: locked_for_s
                .map(|v| i32::try_from(v).unwrap_or(i32::MAX))
                .unwrap_or(0),
            message: opt(message),
        }),
        Screen::Family {
            greeting,
            children,
            check_in_count,
            check_out_count,
            notice,
        } => w.set_family(FamilyData {
            greeting: s(greeting),
            children: model(children.iter().map(child_card).collect()),
            check_in_count: count(*check_in_count),
            check_out_count: count(*check_out_count),
            notice: opt(notice),
        }),
        Screen::Saving => {}
        Screen::Done { lines } => w.set_done_lines(model(lines.iter().map(|l| s(l)).collect())),
        Screen::Message { tone, text } => w.set_message(MessageData {
            caution: *tone == Tone::Caution,
            text: s(text),
        }),
        // Shown on the message page (app.slint), in the caution tone.
        Screen::NeedsTechnician { reason } => w.set_message(MessageData {
            caution: true,
            text: s(&cubby_core::kiosk::frame::technician_text(
                frame.language(),
                reason,
            )),
        }),
        Screen::Staff {
            name,
            on_duty,
            rooms,
            alerts,
            keypad_locked,
            manual_sync,
            notice,
            parked,
            device_allowed,
        } => w.set_staff(StaffData {
            name: s(name),
            on_duty: *on_duty,
            rooms: model(rooms.iter().map(room_card).collect()),
            alerts: model(alerts.iter().map(|a| s(a)).collect()),
            keypad_locked: *keypad_locked,
            sync_allowed: manual_sync.allowed,
            sync_next: opt(&manual_sync.next_at),
            notice: opt(notice),
            parked: count(*parked),
            device_allowed: *device_allowed,
        }),
        Screen::StaffRoom {
            room_id,
            room_name,
            children,
            selected,
            check_in_count,
            check_out_count,
            all_present_selected,
            all_absent_selected,
            confirm_check_in,
            transfer_to,
            notice,
            ..
        } => w.set_staff_room(StaffRoomData {
            room_id: s(room_id),
            room_name: s(room_name),
            present: model(
                children
                    .iter()
                    .filter(|c| c.present)
                    .map(roster_row)
                    .collect(),
            ),
            absent: model(
                children
                    .iter()
                    .filter(|c| !c.present)
                    .map(roster_row)
                    .collect(),
            ),
            all_present_selected: *all_present_selected,
            all_absent_selected: *all_absent_selected,
            confirm_check_in: *confirm_check_in,
            selected: count(*selected),
            check_in_count: count(*check_in_count),
            check_out_count: count(*check_out_count),
            transfer_to: model(
                transfer_to
                    .iter()
                    .map(|r| RoomRefData {
                        id: s(&r.id),
                        name: s(&r.name),
                    })
                    .collect(),
            ),
            notice: opt(notice),
        }),
        Screen::Provision {
            hub_url,
            name,
            busy,
            error,
        } => w.set_provision(ProvisionData {
            hub_url: s(hub_url),
            name: s(name),
            busy: *busy,
            error: opt(error),
        }),
        Screen::RollCall {
            progress,
            accounted,
            total,
            rooms,
            started_at,
            notice,
        } => w.set_roll_call(RollCallData {
            progress: s(progress),
            accounted: count(*accounted),
            total: count(*total),
            rooms: model(
                rooms
                    .iter()
                    .map(|r| RollCallRoomData {
                        room_name: s(&r.room_name),
                        people: model(r.people.iter().map(roll_call_person).collect()),
                    })
                    .collect(),
            ),
            started_at: s(started_at),
            notice: opt(notice),
        }),
        Screen::RollCallSummary {
            all_accounted,
            text,
            missing,
            ..
        } => w.set_roll_call_summary(RollCallSummaryData {
            all_accounted: *all_accounted,
            text: s(text),
            missing: model(missing.iter().map(roll_call_person).collect()),
        }),
        Screen::SyncErrors {
            parked,
            reports,
            notice,
        } => w.set_sync_errors(SyncErrorsData {
            parked: model(parked.iter().map(parked_row).collect()),
            reports: model(reports.iter().map(report_row).collect()),
            notice: opt(notice),
        }),
        Screen::Device {
            version,
            device_id,
            hub_url,
            address,
            clock_synced,
            clock_text,
            queue_text,
            hardware,
            letters,
            people,
            page,
            pages,
            person,
            consent,
            consent_text,
            can_enroll,
            can_delete,
            confirm_delete,
            enroll,
            notice,
            revoked,
            ..
        } => w.set_device(DeviceData {
            version: s(version),
            device_id: s(device_id),
            hub_url: s(hub_url),
            address: s(address),
            clock_synced: *clock_synced,
            clock_text: s(clock_text),
            queue_text: s(queue_text),
            hardware: model(
                hardware
                    .iter()
                    .map(|h| HardwareLineData {
                        name: s(&h.name),
                        state: s(&h.state),
                        detail: s(&h.detail),
                    })
                    .collect(),
            ),
            letters: model(
                letters
                    .iter()
                    .map(|l| LetterTabData {
                        letter: s(&l.letter),
                        count: count(l.count),
                        selected: l.selected,
                    })
                    .collect(),
            ),
            people: model(people.iter().map(person_row).collect()),
            page: count(*page),
            pages: count(*pages),
            has_person: person.is_some(),
            person: person.as_ref().map(person_row).unwrap_or_default(),
            consent: *consent,
            consent_text: s(consent_text),
            can_enroll: *can_enroll,
            can_delete: *can_delete,
            confirm_delete: *confirm_delete,
            enroll_state: enroll.as_ref().map(|e| s(&e.state)).unwrap_or_default(),
            enroll_text: enroll.as_ref().map(|e| s(&e.text)).unwrap_or_default(),
            enroll_busy: enroll.as_ref().is_some_and(|e| e.busy),
            notice: opt(notice),
            revoked: opt(revoked),
        }),
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

/// Copy the provisioning form (view state owned by the adapter) into the window.
pub fn apply_form(w: &AppWindow, form: &ProvisionForm) {
    w.set_form_hub(s(&form.hub_url));
    w.set_form_code(s(&form.code));
    w.set_form_name(s(&form.name));
    w.set_form_field(count(form.field));
    w.set_form_upper(form.upper);
}

fn status(st: &StatusBar) -> StatusData {
    StatusData {
        online: st.online,
        queue_text: s(&st.queue_text),
        parked: i32::try_from(st.parked).unwrap_or(i32::MAX),
        last_sync: opt(&st.last_sync),
        needs_reprovision: st.needs_reprovision,
        clock_synced: st.clock_synced,
    }
}

fn child_card(c: &ChildCard) -> ChildCardData {
    ChildCardData {
        id: s(&c.id),
        first_name: s(&c.first_name),
        initials: s(&c.initials),
        room: s(&c.room),
        state: s(&c.state),
        present: c.present,
        selected: c.selected,
        refused: opt(&c.refused),
        tint: tint(&c.id),
    }
}

fn room_card(r: &RoomCard) -> RoomCardData {
    RoomCardData {
        id: s(&r.id),
        name: s(&r.name),
        present: count(r.present),
        staff: count(r.staff_on_duty),
        ratio: r.ratio.map(|n| s(&format!("1:{n}"))).unwrap_or_default(),
        state: s(&r.ratio_state),
    }
}

fn roll_call_person(p: &RollCallPerson) -> RollCallPersonData {
    RollCallPersonData {
        id: s(&p.id),
        name: s(&p.name),
        initials: s(&p.initials),
        who: s(&p.who),
        room_name: s(&p.room_name),
        accounted: p.accounted,
        tint: tint(&p.id),
    }
}

fn parked_row(p: &ParkedRow) -> ParkedRowData {
    ParkedRowData {
        event_id: s(&p.event_id),
        what: s(&p.what),
        reason: s(&p.reason),
        parked_at: opt(&p.parked_at),
        confirm_dismiss: p.confirm_dismiss,
    }
}

fn report_row(r: &ReportRow) -> ReportRowData {
    ReportRowData {
        at: s(&r.at),
        ok: r.ok,
        state: s(r.state.as_str()),
        kind: s(&r.kind),
        text: s(&r.text),
        problems_text: opt(&r.problems_text),
        problems: model(r.problems.iter().map(|p| s(p)).collect()),
    }
}

fn person_row(p: &PersonRow) -> PersonRowData {
    PersonRowData {
        id: s(&p.id),
        name: s(&p.name),
        initials: s(&p.initials),
        kind_text: s(&p.kind_text),
        fingers_text: s(&p.fingers_text),
        selected: p.selected,
        tint: tint(&p.id),
    }
}

fn roster_row(r: &RosterRow) -> RosterRowData {
    RosterRowData {
        id: s(&r.id),
        name: s(&r.name),
        initials: s(&r.initials),
        present: r.present,
        since: opt(&r.since),
        selected: r.selected,
        tint: tint(&r.id),
    }
}

//! The touch UI: the Slint components (compiled by build.rs from the package root's
//! `ui/*.slint`, Spanish catalogue bundled) and the code that draws a kiosk
//! [`Frame`] into them. A window is one more view of the kiosk, like the headless protocol:
//!
//! - [`Bridge`] creates the window and turns taps (`Door.tap(id)` in ui/widgets.slint)
//!   into `Input::Tap` (the id read by [`Tap::parse`]) and keys of the provisioning keyboard into inputs through
//!   [`form::ProvisionForm`];
//! - [`show`] copies a frame into the window ([`view`]) and switches the static labels'
//!   language with the frame's.
//!
//! No business logic, SQL or HTTP happens here or in `ui/*.slint`; the event loop, the
//! kiosk task and the watchdog are wired by the `cubby` binary (`window.rs`). This crate
//! depends on the core only, so editing a `.rs` file elsewhere does not recompile the
//! generated UI code.

pub mod form;
pub mod view;

#[cfg(test)]
mod tests;

/// The Slint components compiled by build.rs from ui/app.slint.
pub mod generated {
    #![allow(clippy::all, missing_docs)]
    slint::include_modules!();
}

use std::sync::{Arc, Mutex};

use slint::ComponentHandle;

use cubby_core::kiosk::frame::Frame;
use cubby_core::kiosk::{Input, Tap};
use generated::{AppWindow, Door, Setup};

/// What to do when no window can be opened (printed after Slint's own reasons).
pub const NO_WINDOW_HINT: &str = "No display here? Run it in a desktop session, under Xvfb \
    (`xvfb-run cargo run --release -- demo`), on a Pi console with SLINT_BACKEND=linuxkms, \
    or without a window: `cubby demo --headless` (docs/headless.md).";

/// The bridge between the window and the kiosk task: what the UI thread owns.
pub struct Bridge {
    pub window: AppWindow,
    /// The provisioning form's text (view state).
    pub form: Arc<Mutex<form::ProvisionForm>>,
}

impl Bridge {
    /// Create the window and wire taps and keys to `send`.
    pub fn new(send: impl Fn(Vec<Input>) + Clone + 'static) -> anyhow::Result<Bridge> {
        let window = AppWindow::new()
            .map_err(|e| anyhow::anyhow!("cannot open the kiosk window: {e}\n{NO_WINDOW_HINT}"))?;
        let tap_send = send.clone();
        window.global::<Door>().on_tap(move |id| {
            match Tap::parse(&id) {
                Ok(tap) => tap_send(vec![Input::Tap(tap)]),
                // An id in ui/*.slint the kiosk does not know: a mistake in the UI.
                Err(e) => tracing::warn!("tap ignored: {e}"),
            }
        });
        let form = Arc::new(Mutex::new(form::ProvisionForm::default()));
        let weak = window.as_weak();
        let form_keys = form.clone();
        window.global::<Setup>().on_key(move |key| {
            let Ok(mut f) = form_keys.lock() else { return };
            let submit = f.press(&key);
            if let Some(w) = weak.upgrade() {
                view::apply_form(&w, &f);
            }
            drop(f);
            if let Some(input) = submit {
                send(vec![input]);
            }
        });
        Ok(Bridge { window, form })
    }

    /// Draw a frame (UI thread).
    pub fn show(&self, frame: &Frame) {
        show(&self.window, &self.form, frame);
    }
}

/// Draw `frame` into `w` (UI thread); a new provisioning screen resets the form.
pub fn show(w: &AppWindow, form: &Mutex<form::ProvisionForm>, frame: &Frame) {
    if let cubby_core::kiosk::screen::Screen::Provision { hub_url, name, .. } = &frame.screen {
        if w.get_screen() != "provision" {
            if let Ok(mut f) = form.lock() {
                *f = form::ProvisionForm::new(hub_url, name);
                view::apply_form(w, &f);
            }
        }
    }
    // The window's `lang` says which catalogue is selected (both start in English).
    let want = frame.language().as_str();
    if w.get_lang() != want {
        select_language(want);
        w.set_lang(want.into());
    }
    view::apply(w, frame);
}

/// Switch the static labels (`@tr`) to `lang`; English is the source language.
fn select_language(lang: &str) {
    if let Err(e) = slint::select_bundled_translation(lang) {
        tracing::warn!("no UI translation for {lang:?}: {e}");
    }
}

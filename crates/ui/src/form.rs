//! The first-boot provisioning form behind the on-screen keyboard: which field is being
//! typed, the shift state, and the three texts. Pure view state (no IO): a key press
//! edits the form, "connect" yields the `Input::Provision` the runtime acts on.

use cubby_core::kiosk::Input;

/// Which field the keyboard types into.
pub const FIELDS: usize = 3;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvisionForm {
    pub hub_url: String,
    pub code: String,
    pub name: String,
    /// 0 = hub URL, 1 = enrollment code, 2 = device name.
    pub field: usize,
    pub upper: bool,
}

/// Longest text a field accepts (a URL of a real hub is far shorter).
const MAX_LEN: usize = 200;

impl ProvisionForm {
    /// A form prefilled from what the kiosk already knows (config, a previous attempt).
    pub fn new(hub_url: &str, name: &str) -> ProvisionForm {
        ProvisionForm {
            hub_url: hub_url.to_string(),
            name: name.to_string(),
            // Start where typing is needed: the code when the hub is known.
            field: if hub_url.is_empty() { 0 } else { 1 },
            ..ProvisionForm::default()
        }
    }

    /// Handle one key of the on-screen keyboard (`Setup.key` in ui/setup.slint).
    /// Returns the input to send when the technician taps Connect with the required
    /// fields filled.
    pub fn press(&mut self, key: &str) -> Option<Input> {
        match key {
            "⌫" => {
                self.current().pop();
            }
            "⇧" => self.upper = !self.upper,
            "⇥" => self.field = (self.field + 1) % FIELDS,
            "connect" => return self.submit(),
            k => {
                if let Some(n) = k.strip_prefix("field:") {
                    if let Ok(n) = n.parse::<usize>() {
                        if n < FIELDS {
                            self.field = n;
                        }
                    }
                    return None;
                }
                let mut chars = k.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                if c.is_control() {
                    return None;
                }
                let c = match self.field {
                    // enrollment codes are upper case (the hub ignores case anyway)
                    1 => c.to_ascii_uppercase(),
                    _ if self.upper => c.to_ascii_uppercase(),
                    _ => c,
                };
                let text = self.current();
                if text.chars().count() < MAX_LEN {
                    text.push(c);
                }
            }
        }
        None
    }

    fn current(&mut self) -> &mut String {
        match self.field {
            0 => &mut self.hub_url,
            1 => &mut self.code,
            _ => &mut self.name,
        }
    }

    fn submit(&self) -> Option<Input> {
        let hub_url = self.hub_url.trim().to_string();
        let code = self.code.trim().to_string();
        if hub_url.is_empty() || code.is_empty() {
            return None;
        }
        let name = match self.name.trim() {
            "" => "Front door".to_string(),
            n => n.to_string(),
        };
        Some(Input::Provision {
            hub_url,
            code,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(form: &mut ProvisionForm, text: &str) {
        for c in text.chars() {
            assert_eq!(form.press(&c.to_string()), None);
        }
    }

    #[test]
    fn types_into_the_chosen_field_and_submits() {
        let mut f = ProvisionForm::new("", "");
        assert_eq!(f.field, 0);
        typed(&mut f, "https://hub.example");
        f.press("field:1");
        typed(&mut f, "abcd-2345");
        f.press("⇥");
        typed(&mut f, "Side door");
        assert_eq!(f.hub_url, "https://hub.example");
        assert_eq!(f.code, "ABCD-2345", "codes are typed upper case");
        assert_eq!(f.name, "Side door");
        assert_eq!(
            f.press("connect"),
            Some(Input::Provision {
                hub_url: "https://hub.example".into(),
                code: "ABCD-2345".into(),
                name: "Side door".into(),
            })
        );
    }

    #[test]
    fn backspace_shift_and_tab_wrap() {
        let mut f = ProvisionForm::new("https://hub", "Front");
        assert_eq!(f.field, 1, "the code is next when the hub is known");
        f.press("field:0");
        f.press("⌫");
        assert_eq!(f.hub_url, "https://hu");
        f.press("⇧");
        typed(&mut f, "b");
        assert_eq!(f.hub_url, "https://huB");
        f.press("⇥");
        f.press("⇥");
        f.press("⇥");
        assert_eq!(f.field, 0, "tab wraps around the three fields");
        // backspace on an empty field is harmless
        let mut empty = ProvisionForm::default();
        empty.press("⌫");
        assert_eq!(empty.hub_url, "");
    }

    #[test]
    fn connect_needs_hub_and_code_and_names_the_door() {
        let mut f = ProvisionForm::new("https://hub", "");
        assert_eq!(f.press("connect"), None, "no code yet");
        typed(&mut f, "k");
        match f.press("connect") {
            Some(Input::Provision { name, .. }) => assert_eq!(name, "Front door"),
            other => panic!("expected a provision input, got {other:?}"),
        }
    }

    #[test]
    fn junk_keys_are_ignored() {
        let mut f = ProvisionForm::default();
        f.press("field:9");
        f.press("field:x");
        f.press("ab");
        f.press("\u{7}");
        f.press("");
        assert_eq!(f, ProvisionForm::default());
    }
}

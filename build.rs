//! Compiles the Slint UI (`ui/*.slint`) when the `ui` feature is on, with the Spanish
//! catalogue (`ui/lang/<lang>/LC_MESSAGES/cubby.po`) bundled into the binary.

fn main() {
    #[cfg(feature = "ui")]
    {
        println!("cargo:rerun-if-changed=ui");
        println!("cargo:rerun-if-changed=assets/fonts");
        let config = slint_build::CompilerConfiguration::new()
            .with_bundled_translations("ui/lang")
            // one catalogue for all components: msgids without a context
            .with_default_translation_context(slint_build::DefaultTranslationContext::None)
            // accessible ids and element ids for the UI tests (src/ui/tests.rs)
            .with_debug_info(true);
        if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
            println!("cargo:warning=ui/app.slint: {e}");
            std::process::exit(1);
        }
    }
}

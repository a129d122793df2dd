//! Compiles the Slint UI (the package root's `ui/*.slint`) with the Spanish catalogue
//! (`ui/lang/<lang>/LC_MESSAGES/cubby-ui.po`: Slint names the catalogue after this
//! package) bundled into the binary.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!("cargo:rerun-if-changed={}", root.join("ui").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("assets/fonts").display()
    );
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations(root.join("ui/lang"))
        // one catalogue for all components: msgids without a context
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        // accessible ids and element ids for the UI tests (src/tests.rs)
        .with_debug_info(true);
    if let Err(e) = slint_build::compile_with_config(root.join("ui/app.slint"), config) {
        println!("cargo:warning=ui/app.slint: {e}");
        std::process::exit(1);
    }
}

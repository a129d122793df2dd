//! Compiles the Slint UI (the package root's `ui/*.slint`) with the Spanish catalogue
//! (`ui/lang/<lang>/LC_MESSAGES/cubby-ui.po`: Slint names the catalogue after this
//! package) bundled into the binary.

fn main() {
    // Read when the script runs (not when it is compiled): a build script compiled for one
    // checkout must never read another checkout's UI files.
    let Ok(manifest_dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        println!("cargo:warning=CARGO_MANIFEST_DIR is not set: run this through cargo");
        std::process::exit(1);
    };
    let root = std::path::Path::new(&manifest_dir).join("../..");
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

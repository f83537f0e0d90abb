// Page texts from a TOML catalog, turned into Rust constants at build time. Included by the
// build scripts of the IdP and the portal (`include!`), so both read their catalogs the same
// way and an unknown text is a compile error, not a missing string at run time.
//
// Catalog: one table per module of `src/` (`[signin.login]`), each entry a text as
// `NAME = ["日本語", "English"]` or a list of them (`NAME = [["…", "…"], …]`, a `[Text; N]`).
// Output: `pub mod signin { pub mod login { pub const NAME: Text = Text("…", "…"); } }`.

fn texts_main(catalog: &str) {
    println!("cargo::rerun-if-changed={catalog}");
    let source = std::fs::read_to_string(catalog)
        .unwrap_or_else(|e| panic!("{catalog}: {e}"));
    let table: toml::Table = source
        .parse()
        .unwrap_or_else(|e| panic!("{catalog}: {e}"));
    let mut out = String::from("// Generated from the text catalog by build.rs.\n");
    texts_module(&table, "", &mut out);
    let dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(std::path::Path::new(&dir).join("texts.rs"), out).expect("write texts.rs");
}

fn texts_module(table: &toml::Table, path: &str, out: &mut String) {
    for (key, value) in table {
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match value {
            toml::Value::Table(t) => {
                out.push_str(&format!("pub mod {key} {{\n    #[allow(unused_imports)]\n    use crate::pages::i18n::Text;\n"));
                texts_module(t, &here, out);
                out.push_str("}\n");
            }
            toml::Value::Array(items) if items.iter().all(toml::Value::is_array) => {
                let texts: Vec<String> = items.iter().map(|i| texts_pair(i, &here)).collect();
                out.push_str(&format!(
                    "pub const {key}: [Text; {}] = [{}];\n",
                    texts.len(),
                    texts.join(", ")
                ));
            }
            other => {
                out.push_str(&format!("pub const {key}: Text = {};\n", texts_pair(other, &here)));
            }
        }
    }
}

fn texts_pair(value: &toml::Value, path: &str) -> String {
    match value.as_array().map(Vec::as_slice) {
        Some([toml::Value::String(ja), toml::Value::String(en)]) => {
            format!("Text({ja:?}, {en:?})")
        }
        _ => panic!("text {path}: expected [\"日本語\", \"English\"]"),
    }
}

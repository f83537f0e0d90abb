//! Turns the text catalog (`texts.toml`) into constants (`crate::texts`).

include!("../shared/build/texts.rs");

fn main() {
    texts_main("texts.toml");
}

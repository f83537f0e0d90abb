//! The union's editable texts: terms of use and privacy policy, in Japanese and English.
//!
//! Defaults live in `idp/texts/` (compiled in); files of the same names in `union.texts_dir`
//! replace them and are read on each request, so an edit needs no restart. A missing English
//! file falls back to the union's Japanese one (never to our default, which may say something
//! else). The files are a small Markdown subset — `#`/`##`/`###` headings, paragraphs, `- `
//! and `1. ` lists — rendered by [`render`]; every character of the file is escaped, so no
//! HTML or script from a file can reach a page.

use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame, Hosted};
use crate::state::AppState;
use axum::response::Response;
use kenpo_shared::Lang;
use maud::{Markup, html};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Terms,
    Privacy,
}

impl Doc {
    fn name(self) -> &'static str {
        match self {
            Doc::Terms => "terms",
            Doc::Privacy => "privacy",
        }
    }

    pub fn title(self) -> Text {
        match self {
            Doc::Terms => Text("利用規約", "Terms of use"),
            Doc::Privacy => Text(
                "個人情報の取り扱い（プライバシーポリシー）",
                "Privacy policy",
            ),
        }
    }

    fn default_text(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Doc::Terms, Lang::Ja) => include_str!("../../texts/terms-ja.md"),
            (Doc::Terms, Lang::En) => include_str!("../../texts/terms-en.md"),
            (Doc::Privacy, Lang::Ja) => include_str!("../../texts/privacy-ja.md"),
            (Doc::Privacy, Lang::En) => include_str!("../../texts/privacy-en.md"),
        }
    }
}

/// Largest text file read from `union.texts_dir`.
const MAX_BYTES: u64 = 256 * 1024;

async fn read_small(path: &std::path::Path) -> Option<String> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return None;
    }
    tokio::fs::read_to_string(path).await.ok()
}

/// The text of a document in a language: the union's file, else the default.
pub async fn load(state: &AppState, doc: Doc, lang: Lang) -> String {
    if let Some(dir) = &state.config.union.texts_dir {
        let own = dir.join(format!("{}-{}.md", doc.name(), lang.code()));
        if let Some(t) = read_small(&own).await {
            return t;
        }
        let ja = dir.join(format!("{}-ja.md", doc.name()));
        if let Some(t) = read_small(&ja).await {
            return t;
        }
        tracing::warn!(dir = %dir.display(), doc = doc.name(), "union.texts_dir has no file for this text; showing the default");
    }
    doc.default_text(lang).to_string()
}

enum Block {
    Heading(u8, String),
    Para(Vec<String>),
    List(bool, Vec<String>),
}

/// `1. text` → Some("text").
fn ordered_item(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = &line[digits..];
    rest.strip_prefix(". ")
        .or_else(|| rest.strip_prefix("． "))
        .or_else(|| rest.strip_prefix(".\u{3000}"))
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut Vec<Block>| {
        if !para.is_empty() {
            out.push(Block::Para(std::mem::take(para)));
        }
    };
    for raw in md.lines() {
        let line = raw.trim_end();
        let t = line.trim_start();
        if t.is_empty() {
            flush(&mut para, &mut out);
            continue;
        }
        let heading = [("### ", 3u8), ("## ", 2), ("# ", 1)]
            .into_iter()
            .find_map(|(p, level)| t.strip_prefix(p).map(|rest| (level, rest)));
        if let Some((level, rest)) = heading {
            flush(&mut para, &mut out);
            out.push(Block::Heading(level, rest.trim().to_string()));
            continue;
        }
        let bullet = t
            .strip_prefix("- ")
            .or_else(|| t.strip_prefix("* "))
            .or_else(|| t.strip_prefix("・"));
        let item = match (bullet, ordered_item(t)) {
            (Some(b), _) => Some((false, b)),
            (None, Some(o)) => Some((true, o)),
            _ => None,
        };
        if let Some((ordered, text)) = item {
            flush(&mut para, &mut out);
            match out.last_mut() {
                Some(Block::List(o, items)) if *o == ordered => items.push(text.trim().into()),
                _ => out.push(Block::List(ordered, vec![text.trim().into()])),
            }
            continue;
        }
        // A line indented under a list item continues it.
        if para.is_empty()
            && line.starts_with("  ")
            && let Some(Block::List(_, items)) = out.last_mut()
            && let Some(last) = items.last_mut()
        {
            last.push(' ');
            last.push_str(t);
            continue;
        }
        para.push(t.to_string());
    }
    flush(&mut para, &mut out);
    out
}

/// Renders the Markdown subset; all text is escaped. File headings start at `h2` (the page
/// has its own `h1`).
pub fn render(md: &str) -> Markup {
    html! {
        @for b in blocks(md) {
            @match b {
                Block::Heading(1, t) => h2 { (t) },
                Block::Heading(2, t) => h3 { (t) },
                Block::Heading(_, t) => h4 { (t) },
                Block::Para(lines) => p {
                    @for (i, l) in lines.iter().enumerate() {
                        @if i > 0 { br; }
                        (l)
                    }
                },
                Block::List(true, items) => ol { @for i in items { li { (i) } } },
                Block::List(false, items) => ul { @for i in items { li { (i) } } },
            }
        }
    }
}

async fn doc_page(state: &AppState, ctx: &Ctx, doc: Doc) -> Response {
    let text = load(state, doc, ctx.lang).await;
    let version = &state.config.union.terms_version;
    let title = ctx.t(doc.title());
    let body = html! {
        h1 { (title) }
        @if doc == Doc::Terms {
            p.muted.small { (ctx.lang.pick("版", "Version")) ": " (version) }
        }
        div.doc { (render(&text)) }
        p.small {
            a href=(match doc { Doc::Terms => "/privacy", Doc::Privacy => "/terms" }) {
                (ctx.t(match doc { Doc::Terms => Doc::Privacy.title(), Doc::Privacy => Doc::Terms.title() }))
            }
        }
    };
    ctx.render(
        state,
        Frame {
            title,
            step: Some(match doc {
                Doc::Terms => "terms-of-use",
                Doc::Privacy => "privacy",
            }),
            ..Frame::default()
        },
        body,
    )
}

pub async fn terms_page(Hosted { state, ctx, .. }: Hosted) -> Response {
    doc_page(&state, &ctx, Doc::Terms).await
}

pub async fn privacy_page(Hosted { state, ctx, .. }: Hosted) -> Response {
    doc_page(&state, &ctx, Doc::Privacy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_paragraphs_and_lists() {
        let md = "# 第1条（目的）\nこの規約は\n組合員に適用します。\n\n- 一つ目\n- 二つ目\n  続き\n\n1. 甲\n2. 乙\n### 小見出し\n";
        let html = render(md).into_string();
        assert_eq!(
            html,
            "<h2>第1条（目的）</h2><p>この規約は<br>組合員に適用します。</p>\
             <ul><li>一つ目</li><li>二つ目 続き</li></ul><ol><li>甲</li><li>乙</li></ol>\
             <h4>小見出し</h4>"
        );
    }

    #[test]
    fn nothing_in_a_file_becomes_markup() {
        let md = "# <script>alert(1)</script>\n<img src=x onerror=alert(1)>\n- <a href=\"javascript:x\">y</a>";
        let html = render(md).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<a "), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_default_texts_exist_in_both_languages() {
        for doc in [Doc::Terms, Doc::Privacy] {
            for lang in [Lang::Ja, Lang::En] {
                let t = doc.default_text(lang);
                assert!(t.len() > 500, "{doc:?} {lang:?}");
                assert!(!blocks(t).is_empty());
            }
        }
    }
}

//! QR codes of otpauth URIs: an SVG shown on the page and a PNG to download (the Edge
//! extension of the union's guide reads a saved image).

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module in the PNG.
const SCALE: usize = 8;
/// White modules around the code (the specification asks for four).
const QUIET: usize = 4;

fn code(data: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| e.to_string())
}

/// The code as an inline SVG element (no style attributes, so the page's CSP allows it).
pub fn svg(data: &str, label: &str) -> Result<String, String> {
    let svg = code(data)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Give the drawing a name for screen readers.
    let escaped = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].replacen(
            "<svg",
            &format!(r#"<svg role="img" aria-label="{escaped}" class="qr""#),
            1,
        ),
        None => svg,
    };
    Ok(svg)
}

/// The code as an 8-bit greyscale PNG.
pub fn png(data: &str) -> Result<Vec<u8>, String> {
    let code = code(data)?;
    let width = code.width();
    let colors = code.to_colors();
    let size = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; size * size];
    for (i, c) in colors.iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            let row = y * size;
            pixels[row + mx * SCALE..row + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size as u32, size as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_holds_the_module_matrix() {
        let data = "otpauth://totp/kenpo:taro?secret=GEZDGNBVGY3TQOJQ&issuer=kenpo";
        let bytes = png(data).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let code = code(data).unwrap();
        let w = code.width();
        assert_eq!(info.width as usize, (w + 2 * QUIET) * SCALE);
        // Every module's centre pixel has the module's colour; the quiet zone is white.
        for (i, c) in code.to_colors().iter().enumerate() {
            let (x, y) = (
                (i % w + QUIET) * SCALE + SCALE / 2,
                (i / w + QUIET) * SCALE + SCALE / 2,
            );
            let px = buf[y * info.width as usize + x];
            assert_eq!(px == 0, *c == Color::Dark, "module {i}");
        }
        assert_eq!(buf[0], 255);
        let svg = svg(data, "QR <code>").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"QR &lt;code&gt;\""));
        assert!(!svg.contains("style="));
    }
}

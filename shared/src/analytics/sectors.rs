//! Sector names and tags (ANALYTICS §4): the provider's sector names normalised to GICS names,
//! title-cased into a `Sector: …` tag, with a fixed colour per sector.

/// Prefix of every sector tag.
pub const SECTOR_TAG_PREFIX: &str = "Sector: ";
/// Tag of a position whose symbol has no sector.
pub const UNCATEGORIZED: &str = "Uncategorized";
/// Colour of a sector without its own.
pub const DEFAULT_COLOR: &str = "#78909C";

const RENAMES: [(&str, &str); 4] = [
    ("Financial Services", "Financials"),
    ("Consumer Cyclical", "Consumer Discretionary"),
    ("Consumer Defensive", "Consumer Staples"),
    ("Basic Materials", "Materials"),
];

const COLORS: [(&str, &str); 11] = [
    ("Technology", "#2196F3"),
    ("Healthcare", "#4CAF50"),
    ("Financials", "#FF9800"),
    ("Consumer Discretionary", "#E91E63"),
    ("Consumer Staples", "#8BC34A"),
    ("Energy", "#795548"),
    ("Industrials", "#607D8B"),
    ("Materials", "#9C27B0"),
    ("Real Estate", "#00BCD4"),
    ("Utilities", "#FFC107"),
    ("Communication Services", "#3F51B5"),
];

/// Python's `str.title()`: a letter after a non-letter is upper case, others lower case.
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if prev_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_letter = true;
        } else {
            out.push(c);
            prev_letter = false;
        }
    }
    out
}

/// The sector a provider name stands for (`None` for a missing or blank one).
pub fn normalize_sector(raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    let titled = title_case(raw);
    Some(
        RENAMES
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(&titled))
            .map_or(titled, |(_, to)| (*to).to_owned()),
    )
}

/// `Sector: <sector>` or `Sector: Uncategorized`.
pub fn sector_tag(raw: Option<&str>) -> String {
    format!(
        "{SECTOR_TAG_PREFIX}{}",
        normalize_sector(raw).unwrap_or_else(|| UNCATEGORIZED.to_owned())
    )
}

/// The colour of a sector tag.
pub fn tag_color(tag: &str) -> &'static str {
    let sector = tag.strip_prefix(SECTOR_TAG_PREFIX).unwrap_or(tag);
    COLORS
        .iter()
        .find(|(s, _)| *s == sector)
        .map_or(DEFAULT_COLOR, |(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_become_gics_names_in_title_case() {
        assert_eq!(sector_tag(Some("Financial Services")), "Sector: Financials");
        assert_eq!(
            sector_tag(Some("consumer cyclical")),
            "Sector: Consumer Discretionary"
        );
        assert_eq!(
            sector_tag(Some("Consumer Defensive")),
            "Sector: Consumer Staples"
        );
        assert_eq!(sector_tag(Some("Basic Materials")), "Sector: Materials");
        assert_eq!(sector_tag(Some("TECHNOLOGY")), "Sector: Technology");
        assert_eq!(sector_tag(Some("real estate")), "Sector: Real Estate");
        assert_eq!(sector_tag(None), "Sector: Uncategorized");
        assert_eq!(sector_tag(Some("  ")), "Sector: Uncategorized");
    }

    #[test]
    fn tags_have_their_sector_colour_or_the_default() {
        assert_eq!(tag_color("Sector: Technology"), "#2196F3");
        assert_eq!(tag_color("Sector: Uncategorized"), DEFAULT_COLOR);
        assert_eq!(title_case("o'neil 3d"), "O'Neil 3D");
    }
}

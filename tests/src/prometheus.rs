//! Reads the Prometheus text exposition format the binaries serve, so tests can assert on
//! series by name and labels.

use std::collections::BTreeMap;

/// One series: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub series: Vec<Series>,
    /// Metric names with a `# HELP` line.
    pub described: Vec<String>,
}

impl Scrape {
    /// Parses an exposition; fails on a line that is not a comment, blank, or a sample.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut scrape = Scrape::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# HELP ") {
                if let Some(name) = rest.split_whitespace().next() {
                    scrape.described.push(name.to_owned());
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            scrape.series.push(parse_sample(line)?);
        }
        Ok(scrape)
    }

    /// The sum of the series named `name` whose labels include every `(key, value)` of
    /// `labels` (0 when there is none: a counter never incremented is not exported).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The series named `name` whose labels include `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.series.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }

    /// Whether any series of `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.series.iter().any(|s| s.name == name)
    }
}

/// Every `sigmasight_[a-z_]+` in a PromQL expression.
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("sigmasight_") {
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..len].to_owned());
        rest = &tail[len..];
    }
    names
}

fn parse_sample(line: &str) -> anyhow::Result<Series> {
    let bad = || anyhow::anyhow!("not a sample line: {line:?}");
    let (series, value) = line.rsplit_once(' ').ok_or_else(bad)?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| bad())?,
    };
    let (name, labels) = match series.find('{') {
        None => (series, BTreeMap::new()),
        Some(open) => {
            let body = series[open + 1..].strip_suffix('}').ok_or_else(bad)?;
            (&series[..open], parse_labels(body).ok_or_else(bad)?)
        }
    };
    Ok(Series {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `k="v",k2="v2"` with `\"`, `\\` and `\n` escapes in values.
fn parse_labels(mut body: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        body = rest[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_braces_in_label_values_parse() -> anyhow::Result<()> {
        let text = "# HELP sigmasight_x_total X.\n# TYPE sigmasight_x_total counter\n\
            sigmasight_x_total{route=\"/a/{id}\",status=\"200\"} 3\n\
            sigmasight_x_total{route=\"/b\",status=\"404\"} 2\n\
            sigmasight_g 1.5\nsigmasight_h_bucket{le=\"+Inf\"} 4\n\
            sigmasight_q{v=\"a\\\"b\"} 1\n";
        let s = Scrape::parse(text)?;
        assert_eq!(s.sum("sigmasight_x_total", &[]), 5.0);
        assert_eq!(s.sum("sigmasight_x_total", &[("route", "/a/{id}")]), 3.0);
        assert_eq!(s.sum("sigmasight_g", &[]), 1.5);
        assert_eq!(s.sum("sigmasight_h_bucket", &[("le", "+Inf")]), 4.0);
        assert_eq!(s.sum("sigmasight_q", &[("v", "a\"b")]), 1.0);
        assert_eq!(s.sum("sigmasight_absent", &[]), 0.0);
        assert_eq!(s.described, ["sigmasight_x_total"]);
        assert!(Scrape::parse("garbage").is_err());
        Ok(())
    }
}

//! Reading drover's HTTP endpoints as a scraper would: one HTTP/1.1 GET over a
//! raw socket, and a strict parser of the OpenMetrics text exposition.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 GET: the status code, the content type and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: drover\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("a UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).expect("a status line");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers["content-length"].parse().expect("a Content-Length");
    assert_eq!(body.len(), length, "the whole body");
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    (status.parse().expect("a status code"), content_type, body.to_string())
}

/// A parsed OpenMetrics text exposition.
#[derive(Debug)]
pub struct Exposition {
    /// Family name → type.
    pub families: HashMap<String, String>,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Exposition {
    /// Parses `text`, failing on anything that is not a descriptor, a sample of a family declared
    /// before it, or the final `# EOF`.
    pub fn parse(text: &str) -> Self {
        let body = text.strip_suffix("# EOF\n").expect("ends with # EOF");
        let mut out = Self {
            families: HashMap::new(),
            samples: Vec::new(),
        };
        for line in body.lines() {
            if let Some(descriptor) = line.strip_prefix("# ") {
                let mut words = descriptor.splitn(3, ' ');
                let (what, name, rest) = (words.next(), words.next(), words.next());
                let (Some(what), Some(name), Some(rest)) = (what, name, rest) else {
                    panic!("a bad descriptor: {line}");
                };
                match what {
                    "TYPE" => assert!(out.families.insert(name.into(), rest.into()).is_none(), "{line}"),
                    // prometheus-client writes HELP before TYPE, and UNIT after it.
                    "HELP" => {}
                    "UNIT" => assert!(out.families.contains_key(name), "{line}"),
                    _ => panic!("an unknown descriptor: {line}"),
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').expect("labels close"))),
                None => (series, BTreeMap::new()),
            };
            let declared = ["", "_total", "_bucket", "_count", "_sum", "_created"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix).is_some_and(|f| out.families.contains_key(f)));
            assert!(declared, "a sample before its family: {line}");
            let value = value.parse().unwrap_or_else(|_| panic!("a bad value: {line}"));
            out.samples.push((name.into(), labels, value));
        }
        out
    }

    /// The sample `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|(_, _, v)| *v)
    }

    pub fn named(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, _)| l)
            .collect()
    }
}

/// `k="v",k2="v2"` (values without escapes: drover's are names and numbers).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
            (k.to_string(), v.trim_end_matches('"').to_string())
        })
        .collect()
}

/// `/metrics`, checked to be OpenMetrics text, parsed.
pub async fn scrape(addr: SocketAddr) -> Exposition {
    let (code, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    Exposition::parse(&body)
}

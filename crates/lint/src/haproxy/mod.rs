//! HAProxy: sections and the settings in effect in each proxy after its
//! `defaults` (the last `defaults` before it, or the one named by `from`).

mod lexer;

use std::collections::BTreeMap;
use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, HaproxyEvidence, HaproxySection, ProblemKind, Setting, Span, TimerSetting,
};

use crate::loader::Loader;
use crate::source::ReadError;
use crate::units;
use lexer::Word;

/// Section keywords (`cfgparse.c` registers these).
pub(crate) const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
    "crt-store",
    "traces",
    "log-forward",
];

/// Options that change how HAProxy handles `Connection` on HTTP/1.
const CONNECTION_OPTIONS: &[&str] = &["http-server-close", "httpclose", "forceclose"];

/// True when a line's first word opens a section.
pub(crate) fn is_section(word: &str) -> bool {
    SECTIONS.contains(&word)
}

/// Settings of one section as written (before inheritance).
#[derive(Debug, Clone, Default)]
struct Settings {
    mode: Option<Setting<String>>,
    timeouts: BTreeMap<String, TimerSetting>,
    options: BTreeMap<String, Option<Setting<String>>>,
    maxconn: Option<Setting<u64>>,
}

impl Settings {
    /// These settings seen from a section that inherits them.
    fn inherited(&self) -> Settings {
        let mut s = self.clone();
        if let Some(m) = &mut s.mode {
            m.inherited = true;
        }
        for t in s.timeouts.values_mut() {
            t.inherited = true;
        }
        for o in s.options.values_mut().flatten() {
            o.inherited = true;
        }
        if let Some(m) = &mut s.maxconn {
            m.inherited = true;
        }
        s
    }
}

/// A section being read.
#[derive(Debug)]
struct Open {
    kind: String,
    name: String,
    span: Span,
    settings: Settings,
    backends: Vec<String>,
    defaults: Option<Span>,
}

/// Reads one HAProxy file and adds what it says to the evidence.
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Haproxy, None)?;
    let mut reader = Reader::default();
    for (index, line) in text.text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let (words, error) = lexer::words(&text.display, line_no, line);
        if let Some(span) = error {
            loader.problem(ProblemKind::Syntax, "quote is never closed", span);
        }
        for w in words.iter().filter(|w| w.templated) {
            loader.problem(
                ProblemKind::Templated,
                format!(
                    "`{}` is filled in at deploy time; its value is unknown here",
                    w.text
                ),
                w.span.clone(),
            );
        }
        reader.line(&words, loader);
    }
    reader.close(&mut loader.evidence.haproxy);
    Ok(())
}

#[derive(Debug, Default)]
struct Reader {
    current: Option<Open>,
    in_global: bool,
    global_maxconn: Option<Setting<u64>>,
    hard_stop_after: Option<TimerSetting>,
    /// The last `defaults` section, and named ones for `from`.
    last_defaults: Option<(Span, Settings)>,
    named_defaults: BTreeMap<String, (Span, Settings)>,
    sections: Vec<HaproxySection>,
}

impl Reader {
    fn line(&mut self, words: &[Word], loader: &mut Loader) {
        let Some(first) = words.first() else { return };
        if is_section(&first.text) {
            self.finish_section();
            self.open(words);
            return;
        }
        let keyword = first.text.as_str();
        let arg = |i: usize| words.get(i);
        if self.in_global {
            match keyword {
                "maxconn" => self.global_maxconn = parsed(words, 1, units::count, loader),
                "hard-stop-after" => {
                    self.hard_stop_after = parsed(words, 1, units::haproxy_ms, loader);
                }
                _ => {}
            }
            return;
        }
        let Some(open) = self.current.as_mut() else {
            return;
        };
        match keyword {
            "mode" => open.settings.mode = arg(1).map(|w| text_setting(first, w)),
            "timeout" => {
                if let Some(name) = arg(1) {
                    if let Some(t) = parsed(words, 2, units::haproxy_ms, loader) {
                        open.settings.timeouts.insert(name.text.clone(), t);
                    }
                }
            }
            "option" | "no" => {
                let (negated, option) = if keyword == "no" {
                    (
                        true,
                        arg(2).filter(|_| arg(1).is_some_and(|w| w.text == "option")),
                    )
                } else {
                    (false, arg(1))
                };
                if let Some(option) = option {
                    if CONNECTION_OPTIONS.contains(&option.text.as_str()) {
                        let value = (!negated).then(|| text_setting(first, option));
                        open.settings.options.insert(option.text.clone(), value);
                    }
                }
            }
            "maxconn" => open.settings.maxconn = parsed(words, 1, units::count, loader),
            "default_backend" | "use_backend" => {
                if let Some(b) = arg(1) {
                    open.backends.push(b.text.clone());
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, words: &[Word]) {
        let head = &words[0];
        self.in_global = head.text == "global";
        let name = words.get(1).map(|w| w.text.clone()).unwrap_or_default();
        // `frontend x from defaults-name` picks named defaults.
        let from = words
            .iter()
            .position(|w| w.text == "from")
            .and_then(|i| words.get(i + 1))
            .and_then(|w| self.named_defaults.get(&w.text));
        // A `defaults` section starts afresh unless it names one with `from`.
        let base = if head.text == "defaults" {
            from
        } else {
            from.or(self.last_defaults.as_ref())
        };
        let (defaults, settings) = match (head.text.as_str(), base) {
            ("frontend" | "backend" | "listen" | "defaults", Some((span, s))) => {
                (Some(span.clone()), s.inherited())
            }
            _ => (None, Settings::default()),
        };
        self.current = matches!(
            head.text.as_str(),
            "frontend" | "backend" | "listen" | "defaults"
        )
        .then(|| Open {
            kind: head.text.clone(),
            name,
            span: head.span.clone(),
            settings,
            backends: Vec::new(),
            defaults,
        });
    }

    fn finish_section(&mut self) {
        let Some(open) = self.current.take() else {
            return;
        };
        if open.kind == "defaults" {
            let entry = (open.span, open.settings);
            if !open.name.is_empty() {
                self.named_defaults.insert(open.name, entry.clone());
            }
            self.last_defaults = Some(entry);
            return;
        }
        self.sections.push(HaproxySection {
            kind: open.kind,
            name: open.name,
            span: open.span,
            mode: open.settings.mode,
            timeouts: open.settings.timeouts.into_iter().collect(),
            options: open.settings.options.into_values().flatten().collect(),
            maxconn: open.settings.maxconn,
            backends: open.backends,
            defaults: open.defaults,
        });
    }

    fn close(mut self, ev: &mut HaproxyEvidence) {
        self.finish_section();
        if self.global_maxconn.is_some() {
            ev.global_maxconn = self.global_maxconn;
        }
        if self.hard_stop_after.is_some() {
            ev.hard_stop_after = self.hard_stop_after;
        }
        ev.sections.extend(self.sections);
    }
}

fn text_setting(keyword: &Word, value: &Word) -> Setting<String> {
    Setting {
        value: (!value.templated).then(|| value.text.clone()),
        raw: value.text.clone(),
        span: keyword.span.clone(),
        inherited: false,
    }
}

/// The number at `words[index]`, parsed; an invalid one is a problem.
fn parsed(
    words: &[Word],
    index: usize,
    parse: fn(&str) -> Option<u64>,
    loader: &mut Loader,
) -> Option<Setting<u64>> {
    let value_word = words.get(index)?;
    let value = if value_word.templated {
        None
    } else {
        let v = parse(&value_word.text);
        if v.is_none() {
            loader.problem(
                ProblemKind::InvalidValue,
                format!("`{}` is not a valid value here", value_word.text),
                value_word.span.clone(),
            );
        }
        v
    };
    Some(Setting {
        value,
        raw: value_word.text.clone(),
        span: words[0].span.clone(),
        inherited: false,
    })
}

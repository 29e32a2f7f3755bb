//! From the directive tree to typed evidence: every proxying block with the
//! settings in effect there, after nginx's inheritance rules.
//!
//! Two inheritance rules matter and differ:
//! * single-value directives (`proxy_read_timeout`, `proxy_http_version`,
//!   `proxy_buffering`) apply to the whole level they are written at,
//!   wherever in it, and are inherited by inner levels until overridden;
//! * `proxy_set_header` is an array: an inner level that has *any*
//!   `proxy_set_header` line inherits *none* from outside. That is the
//!   classic way an `Upgrade` header written in `server` vanishes in a
//!   `location` that only sets `Host`.

use wsdoctor_evidence::config::{
    ConfigProblem, HeaderSetting, NginxEvidence, NginxMap, NginxRoute, ProblemKind, Setting, Span,
    TimerSetting,
};

use super::parser::{Arg, Directive};
use crate::units;

/// Which context a list of directives is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// Top of `nginx.conf`.
    Main,
    /// Inside `http` (or the top of a `conf.d/*.conf` fragment).
    Http,
    /// Inside `server`.
    Server,
    /// Inside `location`, `if` or `limit_except`.
    Location,
}

impl Context {
    /// The context a file's top level is in, from what it contains: a
    /// `conf.d` fragment starts in `http`, a snippet in `server`.
    pub(crate) fn of_top_level(directives: &[Directive]) -> Context {
        let has = |name: &str| directives.iter().any(|d| d.name == name);
        if has("http") || has("events") || has("worker_processes") {
            Context::Main
        } else if has("server") || has("upstream") || has("map") {
            Context::Http
        } else if has("location") || has("listen") || has("server_name") {
            Context::Server
        } else {
            Context::Location
        }
    }
}

/// What an inner level inherits.
#[derive(Debug, Clone, Default)]
struct Inherited {
    http_version: Option<Setting<String>>,
    read_timeout: Option<TimerSetting>,
    send_timeout: Option<TimerSetting>,
    buffering: Option<Setting<String>>,
    headers: Vec<HeaderSetting>,
    server_name: Option<String>,
    server: Option<Span>,
    location: Option<String>,
    /// The innermost `location` (or `server`) directive.
    block: Option<Span>,
}

impl Inherited {
    /// The same settings, as seen from one level further in.
    fn for_inner_level(&self) -> Inherited {
        let mut inner = self.clone();
        for s in [&mut inner.http_version, &mut inner.buffering]
            .into_iter()
            .flatten()
        {
            s.inherited = true;
        }
        for s in [&mut inner.read_timeout, &mut inner.send_timeout]
            .into_iter()
            .flatten()
        {
            s.inherited = true;
        }
        for h in &mut inner.headers {
            h.inherited = true;
        }
        inner
    }
}

/// Adds what `directives` (in `context`) say to `ev`.
pub(crate) fn extract(
    directives: &[Directive],
    context: Context,
    ev: &mut NginxEvidence,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut x = Extractor { ev, problems };
    x.level(directives, context, &Inherited::default());
}

struct Extractor<'a> {
    ev: &'a mut NginxEvidence,
    problems: &'a mut Vec<ConfigProblem>,
}

impl Extractor<'_> {
    fn level(&mut self, directives: &[Directive], context: Context, outer: &Inherited) {
        let mut here = outer.for_inner_level();
        let local_headers: Vec<HeaderSetting> = directives
            .iter()
            .filter(|d| d.name == "proxy_set_header")
            .filter_map(header)
            .collect();
        let mut shadowed = Vec::new();
        if !local_headers.is_empty() {
            shadowed = here
                .headers
                .iter()
                .filter(|h| {
                    !local_headers
                        .iter()
                        .any(|l| l.name.eq_ignore_ascii_case(&h.name))
                })
                .cloned()
                .collect();
            here.headers = local_headers;
        }
        for d in directives {
            match d.name.as_str() {
                "proxy_http_version" => here.http_version = self.text(d),
                "proxy_read_timeout" => here.read_timeout = self.timer(d),
                "proxy_send_timeout" => here.send_timeout = self.timer(d),
                "proxy_buffering" => here.buffering = self.text(d),
                "server_name" if context == Context::Server => {
                    here.server_name = d.arg(0).map(str::to_owned);
                }
                "worker_shutdown_timeout" if context == Context::Main => {
                    self.ev.worker_shutdown_timeout = self.timer(d);
                }
                _ => {}
            }
        }
        if matches!(context, Context::Server | Context::Location) {
            if let Some(pass) = directives.iter().find(|d| d.name == "proxy_pass") {
                self.route(pass, &here, shadowed);
            }
        }
        for d in directives {
            let Some(block) = &d.block else { continue };
            match (context, d.name.as_str()) {
                (Context::Main, "http") => self.level(block, Context::Http, &here),
                (Context::Main, "events") => self.events(block),
                (Context::Http | Context::Main, "server") => {
                    let mut inner = here.clone();
                    inner.server = Some(d.span.clone());
                    inner.block = Some(d.span.clone());
                    inner.server_name = None;
                    self.level(block, Context::Server, &inner);
                }
                (Context::Http, "map") => self.map(d, block),
                (Context::Server | Context::Location, "location") => {
                    let mut inner = here.clone();
                    inner.location = Some(d.args_text());
                    inner.block = Some(d.span.clone());
                    self.level(block, Context::Location, &inner);
                }
                (Context::Server | Context::Location, "if" | "limit_except") => {
                    self.level(block, Context::Location, &here);
                }
                _ => {}
            }
        }
    }

    fn route(&mut self, pass: &Directive, here: &Inherited, shadowed: Vec<HeaderSetting>) {
        let Some(target) = pass.args.first() else {
            return;
        };
        // A fragment may hold a bare proxy_pass: its own line stands in for
        // the block then.
        let block = here.block.clone().unwrap_or_else(|| pass.span.clone());
        self.ev.routes.push(NginxRoute {
            server_name: here.server_name.clone(),
            location: here.location.clone(),
            block,
            proxy_pass: Setting {
                value: Some(target.text.clone()),
                raw: target.text.clone(),
                span: pass.span.clone(),
                inherited: false,
            },
            http_version: here.http_version.clone(),
            headers: here.headers.clone(),
            shadowed_headers: shadowed,
            read_timeout: here.read_timeout.clone(),
            send_timeout: here.send_timeout.clone(),
            buffering: here.buffering.clone(),
            server: here.server.clone(),
        });
    }

    fn events(&mut self, block: &[Directive]) {
        for d in block {
            if d.name == "worker_connections" {
                self.ev.worker_connections = self.count(d);
            }
        }
    }

    fn map(&mut self, d: &Directive, block: &[Directive]) {
        let (Some(source), Some(target)) = (d.arg(0), d.arg(1)) else {
            return;
        };
        let entries = block
            .iter()
            .map(|e| (e.name.clone(), e.arg(0).unwrap_or_default().to_owned()))
            .collect();
        self.ev.maps.push(NginxMap {
            source: source.to_owned(),
            target: target.to_owned(),
            span: d.span.clone(),
            entries,
        });
    }

    fn text(&mut self, d: &Directive) -> Option<Setting<String>> {
        let arg = d.args.first()?;
        Some(setting(d, arg, (!arg.templated).then(|| arg.text.clone())))
    }

    fn timer(&mut self, d: &Directive) -> Option<TimerSetting> {
        self.parsed(d, units::nginx_ms, "a time such as 60s, 1m or 1h")
    }

    fn count(&mut self, d: &Directive) -> Option<Setting<u64>> {
        self.parsed(d, units::count, "a number")
    }

    fn parsed(
        &mut self,
        d: &Directive,
        parse: fn(&str) -> Option<u64>,
        what: &str,
    ) -> Option<Setting<u64>> {
        let arg = d.args.first()?;
        let value = if arg.templated {
            None
        } else {
            let value = parse(&arg.text);
            if value.is_none() {
                self.problems.push(ConfigProblem {
                    kind: ProblemKind::InvalidValue,
                    message: format!("`{}` for {} is not {what}", arg.text, d.name),
                    span: arg.span.clone(),
                });
            }
            value
        };
        Some(setting(d, arg, value))
    }
}

fn setting<T>(d: &Directive, arg: &Arg, value: Option<T>) -> Setting<T> {
    Setting {
        value,
        raw: arg.text.clone(),
        span: d.span.clone(),
        inherited: false,
    }
}

fn header(d: &Directive) -> Option<HeaderSetting> {
    let name = d.args.first()?;
    let value = d.args.get(1);
    Some(HeaderSetting {
        name: name.text.clone(),
        value: value.map(|v| v.text.clone()).unwrap_or_default(),
        span: d.span.clone(),
        name_span: name.span.clone(),
        value_span: value.map_or_else(|| name.span.clone(), |v| v.span.clone()),
        inherited: false,
    })
}

//! Terraform (`*.tf`, parsed with hcl-edit, which keeps positions): the
//! load balancers a module creates and their timers.
//!
//! * `aws_lb` / `aws_alb` (application, the default type): `idle_timeout`
//!   (default 60 s);
//! * `aws_lb_listener` with `protocol = "TCP"` (an NLB listener):
//!   `tcp_idle_timeout_seconds` (default 350 s); TLS listeners are fixed;
//! * `aws_elb` (Classic): `idle_timeout` (default 60 s), and `listener`
//!   blocks with `lb_protocol = "http"`, which do not pass upgrades;
//! * `google_compute_backend_service` / `google_compute_region_backend_service`:
//!   `timeout_sec` (default 30 s), a lifetime cap for WebSockets;
//! * the platforms of [`platforms`]: Azure Application Gateway's
//!   `request_timeout`, App Service's `websockets_enabled`, Cloud Run's
//!   `timeout`.
//!
//! `var.x` values are resolved from `variable "x" { default = … }` in the
//! same directory after every file is read, the way a module is written.

use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body};
use hcl_edit::Span as _;
use wsdoctor_evidence::config::{
    ConfigEvidence, ConfigKind, Edit, EditAction, HopConfig, HopTimer, ProblemKind, Span,
    TimerRole, TimerSetting, UpgradeSetting, ValueStyle,
};

use crate::doc::{duration_ms, seconds_ms};
use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::source::ReadError;
use crate::terraform_vars::{PendingVar, Vars};

#[path = "terraform_platforms.rs"]
mod platforms;

/// Byte offset → (line, column in characters), 1-based.
fn position(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

struct File<'a> {
    display: String,
    text: &'a str,
    dir: PathBuf,
}

impl File<'_> {
    fn span(&self, range: Option<std::ops::Range<usize>>) -> Span {
        let range = range.unwrap_or(0..1);
        let (line, column) = position(self.text, range.start);
        let (end_line, end_column) = position(self.text, range.end);
        let len = if end_line == line {
            end_column.saturating_sub(column).max(1)
        } else {
            1
        };
        Span {
            file: self.display.clone(),
            line,
            column,
            len,
        }
    }

    fn block_insert(&self, block: &Block, line: &str) -> Option<Edit> {
        let span = self.span(block.span());
        // A one-line block (`resource "x" "y" {}`) has no body line to
        // take the indentation from.
        let body_below = block
            .body
            .iter()
            .next()
            .and_then(|s| s.span())
            .is_some_and(|r| position(self.text, r.start).0 > span.line);
        body_below.then(|| {
            Edit::new(
                &self.display,
                span.line,
                EditAction::InsertInto,
                vec![line.to_owned()],
            )
        })
    }
}

/// What an attribute's value says.
enum Value {
    Known(String),
    Var(String),
    Computed,
}

fn value(attr: &Attribute) -> Value {
    match &attr.value {
        Expression::Number(n) => Value::Known(n.value().to_string()),
        Expression::String(s) => Value::Known(s.value().clone()),
        Expression::Bool(b) => Value::Known(b.value().to_string()),
        Expression::Traversal(t) => {
            let root = match &t.expr {
                Expression::Variable(v) => v.value().as_str().to_owned(),
                _ => String::new(),
            };
            let first = t.operators.first().and_then(|op| match op.value() {
                hcl_edit::expr::TraversalOperator::GetAttr(ident) => {
                    Some(ident.value().as_str().to_owned())
                }
                _ => None,
            });
            match (root.as_str(), first) {
                ("var", Some(name)) => Value::Var(name),
                _ => Value::Computed,
            }
        }
        _ => Value::Computed,
    }
}

fn string_attr(body: &Body, key: &str) -> Option<String> {
    match value(body.get_attribute(key)?) {
        Value::Known(v) => Some(v),
        _ => None,
    }
}

/// Reads one `.tf` file.
pub(crate) fn load(loader: &mut Loader, vars: &mut Vars, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Terraform, None)?;
    let file = File {
        display: text.display.clone(),
        text: &text.text,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let body = match hcl_edit::parser::parse_body(&text.text) {
        Ok(body) => body,
        Err(e) => {
            let location = e.location();
            loader.problem(
                ProblemKind::Syntax,
                format!("not valid HCL: {}", e.message()),
                Span {
                    file: file.display.clone(),
                    line: u32::try_from(location.line()).unwrap_or(1).max(1),
                    column: u32::try_from(location.column()).unwrap_or(1).max(1),
                    len: 1,
                },
            );
            return Ok(());
        }
    };
    for block in body.blocks() {
        match block.ident.value().as_str() {
            "variable" => variable(&file, vars, block),
            "resource" => {
                let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
                if let [kind, name, ..] = labels[..] {
                    if let Some(hop) = resource(loader, vars, &file, block, kind, name) {
                        loader.evidence.hops.push(hop);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn variable(file: &File<'_>, vars: &mut Vars, block: &Block) {
    let Some(name) = block.labels.first().map(|l| l.as_str().to_owned()) else {
        return;
    };
    let Some(default) = block.body.get_attribute("default") else {
        return;
    };
    if let Value::Known(raw) = value(default) {
        vars.defaults.insert(
            (file.dir.clone(), name),
            TimerSetting {
                value: seconds_ms(&raw),
                raw,
                span: file.span(default.value.span()),
                inherited: true,
            },
        );
    }
}

/// A timer from attribute `key` of `block`.
fn timer(
    loader: &mut Loader,
    file: &File<'_>,
    block: &Block,
    key: &str,
    role: TimerRole,
    style: ValueStyle,
    pending: &mut Option<String>,
) -> HopTimer {
    let attr = block.body.get_attribute(key);
    let setting = attr.and_then(|a| {
        let span = file.span(a.value.span());
        match value(a) {
            Value::Known(raw) => {
                let suffixed = matches!(style, ValueStyle::SecondsSuffix);
                let value = if suffixed {
                    duration_ms(&raw)
                } else {
                    seconds_ms(&raw)
                };
                if value.is_none() {
                    let what = if suffixed {
                        "a duration (`300s`)"
                    } else {
                        "a number of seconds"
                    };
                    loader.problem(
                        ProblemKind::InvalidValue,
                        format!("`{raw}` is not {what}"),
                        span.clone(),
                    );
                }
                Some(TimerSetting {
                    value,
                    raw,
                    span,
                    inherited: false,
                })
            }
            Value::Var(name) => {
                *pending = Some(name);
                None
            }
            Value::Computed => {
                loader.problem(
                    ProblemKind::Templated,
                    format!("`{key}` is computed by Terraform; its value is unknown here"),
                    span,
                );
                Some(TimerSetting {
                    value: None,
                    raw: "(computed)".to_owned(),
                    span: file.span(a.value.span()),
                    inherited: false,
                })
            }
        }
    });
    // A duration is a string in HCL; a number of seconds is a number.
    let written = if matches!(style, ValueStyle::SecondsSuffix) {
        "\"{value}\""
    } else {
        "{value}"
    };
    HopTimer {
        key: key.to_owned(),
        role,
        setting,
        style,
        insert: if attr.is_none() {
            file.block_insert(block, &format!("{key} = {written}"))
        } else {
            None
        },
    }
}

fn resource(
    loader: &mut Loader,
    vars: &mut Vars,
    file: &File<'_>,
    block: &Block,
    kind: &str,
    name: &str,
) -> Option<HopConfig> {
    let body = &block.body;
    let label_span = file.span(block.labels.get(1).and_then(|l| l.span()));
    let address = format!("{kind}.{name}");
    let websocket = names_websocket(name).then(|| format!("its name `{name}` names WebSockets"));
    if let Some(hops) = platforms::resource(loader, vars, file, block, kind, name) {
        let mut hops = hops;
        // The caller pushes one hop; the others go in here, in file order.
        let last = hops.pop();
        loader.evidence.hops.extend(hops);
        return last;
    }
    let mut pending = None;
    let (product, key, role, mut notes, upgrade) = match kind {
        "aws_lb" | "aws_alb" => {
            let lb_type =
                string_attr(body, "load_balancer_type").unwrap_or_else(|| "application".to_owned());
            if lb_type != "application" {
                // NLB idle timeouts live on their listeners.
                return None;
            }
            ("aws-alb", "idle_timeout", TimerRole::Idle, Vec::new(), None)
        }
        "aws_lb_listener" | "aws_alb_listener" => {
            let protocol = string_attr(body, "protocol")
                .unwrap_or_default()
                .to_ascii_uppercase();
            match protocol.as_str() {
                "TCP" | "TCP_UDP" => (
                    "aws-nlb",
                    "tcp_idle_timeout_seconds",
                    TimerRole::Idle,
                    Vec::new(),
                    None,
                ),
                "TLS" => (
                    "aws-nlb",
                    "tcp_idle_timeout_seconds",
                    TimerRole::Idle,
                    vec![
                        "a TLS listener: its idle timeout is fixed at 350 s and cannot be raised"
                            .to_owned(),
                    ],
                    None,
                ),
                _ => return None,
            }
        }
        "aws_elb" => {
            let http = body.get_blocks("listener").find(|l| {
                string_attr(&l.body, "lb_protocol").is_some_and(|p| {
                    p.eq_ignore_ascii_case("http") || p.eq_ignore_ascii_case("https")
                })
            });
            let upgrade = http.map(|l| UpgradeSetting {
                enabled: false,
                what: "a TCP or SSL listener (HTTP/HTTPS listeners of a Classic ELB do not pass the Upgrade handshake)".to_owned(),
                span: file.span(l.body.get_attribute("lb_protocol").and_then(|a| a.value.span())),
                fix: None,
            });
            (
                "aws-clb",
                "idle_timeout",
                TimerRole::Idle,
                Vec::new(),
                upgrade,
            )
        }
        "google_compute_backend_service" | "google_compute_region_backend_service" => (
            "gcp-external-alb",
            "timeout_sec",
            TimerRole::Lifetime,
            Vec::new(),
            None,
        ),
        _ => return None,
    };
    let mut t = timer(
        loader,
        file,
        block,
        key,
        role,
        ValueStyle::Seconds,
        &mut pending,
    );
    if notes.iter().any(|n| n.contains("fixed at 350")) {
        t.insert = None;
    }
    let index = loader.evidence.hops.len();
    if let Some(var) = pending {
        notes.push(format!("`{key}` comes from var.{var}"));
        vars.pending.push(PendingVar {
            hop: index,
            timer: 0,
            dir: file.dir.clone(),
            name: var,
        });
    }
    Some(HopConfig {
        product: product.to_owned(),
        name: address,
        span: label_span,
        source: ConfigKind::Terraform,
        websocket,
        timers: vec![t],
        upgrade,
        notes,
    })
}

/// After every file is read: `var.x` timers take the variable's default
/// from the same directory (edits then change the default).
pub(crate) fn finish(vars: Vars, ev: &mut ConfigEvidence) {
    for p in vars.pending {
        let Some(default) = vars.defaults.get(&(p.dir.clone(), p.name.clone())) else {
            continue;
        };
        if let Some(t) = ev
            .hops
            .get_mut(p.hop)
            .and_then(|h| h.timers.get_mut(p.timer))
        {
            let mut setting = default.clone();
            // Written in the module, so the edit changes the default there.
            setting.inherited = false;
            t.setting = Some(setting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, text.find('2').unwrap_or(0)), (2, 6));
        assert_eq!(position(text, 10_000), (3, 1));
    }
}

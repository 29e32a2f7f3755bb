//! Terraform forms of the platform settings that cut or refuse WebSockets
//! (kb entries `azure-app-gateway`, `azure-app-service`, `gcp-cloud-run`):
//!
//! * `azurerm_application_gateway`: each `backend_http_settings` block's
//!   `request_timeout` also bounds WebSocket sessions (a lifetime cap; one
//!   hop per settings block, named after it);
//! * `azurerm_linux_web_app` / `azurerm_windows_web_app`:
//!   `site_config { websockets_enabled }`, off by default (the upgrade gets
//!   a 503);
//! * `google_cloud_run_v2_service`: `template { timeout = "300s" }`, the
//!   request timeout that caps a WebSocket's age (default 300 s).

use hcl_edit::structure::Block;
use hcl_edit::Span as _;
use wsdoctor_evidence::config::{
    ConfigKind, Edit, EditAction, HopConfig, TimerRole, UpgradeSetting, ValueStyle,
};

use super::{string_attr, timer, File};
use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::terraform_vars::{PendingVar, Vars};

/// The hops a platform resource describes, in file order; `None` when the
/// resource is not one of these.
pub(super) fn resource(
    loader: &mut Loader,
    vars: &mut Vars,
    file: &File<'_>,
    block: &Block,
    kind: &str,
    name: &str,
) -> Option<Vec<HopConfig>> {
    match kind {
        "azurerm_application_gateway" => Some(app_gateway(loader, vars, file, block, name)),
        "azurerm_linux_web_app" | "azurerm_windows_web_app" => {
            Some(vec![web_app(file, block, kind, name)])
        }
        "google_cloud_run_v2_service" => {
            cloud_run(loader, vars, file, block, name).map(|h| vec![h])
        }
        _ => None,
    }
}

/// One hop per `backend_http_settings`: each has its own request timeout,
/// and the settings' name says which backend carries WebSockets.
fn app_gateway(
    loader: &mut Loader,
    vars: &mut Vars,
    file: &File<'_>,
    block: &Block,
    name: &str,
) -> Vec<HopConfig> {
    let base = loader.evidence.hops.len();
    let mut hops = Vec::new();
    for settings in block.body.get_blocks("backend_http_settings") {
        let settings_name = string_attr(&settings.body, "name").unwrap_or_default();
        let span_of_name = settings
            .body
            .get_attribute("name")
            .and_then(|a| a.value.span())
            .or_else(|| settings.ident.span());
        let websocket = if names_websocket(&settings_name) {
            Some(format!(
                "its backend settings `{settings_name}` name WebSockets"
            ))
        } else {
            names_websocket(name).then(|| format!("its name `{name}` names WebSockets"))
        };
        let mut pending = None;
        let t = timer(
            loader,
            file,
            settings,
            "request_timeout",
            TimerRole::Lifetime,
            ValueStyle::Seconds,
            &mut pending,
        );
        let mut notes = vec![
            "Application Gateway's backend request timeout also applies to WebSocket sessions (kb: azure-app-gateway.max_lifetime_note)".to_owned(),
        ];
        if t.setting.is_none() && pending.is_none() {
            notes.push(
                "`request_timeout` is not set: the default applies (20 s in the portal, 30 s from PowerShell and AGIC; kb: azure-app-gateway.max_lifetime_s)"
                    .to_owned(),
            );
        }
        if let Some(var) = pending {
            notes.push(format!("`request_timeout` comes from var.{var}"));
            vars.pending.push(PendingVar {
                hop: base + hops.len(),
                timer: 0,
                dir: file.dir.clone(),
                name: var,
            });
        }
        hops.push(HopConfig {
            product: "azure-app-gateway".to_owned(),
            name: format!(
                "azurerm_application_gateway.{name} backend_http_settings \"{settings_name}\""
            ),
            span: file.span(span_of_name),
            source: ConfigKind::Terraform,
            websocket,
            timers: vec![t],
            upgrade: None,
            notes,
        });
    }
    hops
}

/// `websockets_enabled` in `site_config`: false or absent refuses upgrades.
fn web_app(file: &File<'_>, block: &Block, kind: &str, name: &str) -> HopConfig {
    let address = format!("{kind}.{name}");
    let site_config = block.body.get_blocks("site_config").next();
    let attr = site_config.and_then(|s| s.body.get_attribute("websockets_enabled"));
    let written = site_config.and_then(|s| string_attr(&s.body, "websockets_enabled"));
    let enabled = written.as_deref() == Some("true");
    let what = "`websockets_enabled = true` in `site_config` (App Service answers the upgrade with 503 while WebSockets are off, the default)".to_owned();
    let (span, fix) = match (site_config, attr) {
        (_, Some(a)) => {
            let span = file.span(a.value.span());
            (span.clone(), replace_line(file, &span, "true"))
        }
        (Some(s), None) => (
            file.span(s.ident.span()),
            file.block_insert(s, "websockets_enabled = true"),
        ),
        (None, None) => (file.span(block.labels.get(1).and_then(|l| l.span())), None),
    };
    let websocket = if enabled {
        Some("it enables WebSockets (`websockets_enabled = true`)".to_owned())
    } else {
        names_websocket(name).then(|| format!("its name `{name}` names WebSockets"))
    };
    HopConfig {
        product: "azure-app-service".to_owned(),
        name: address,
        span: file.span(block.labels.get(1).and_then(|l| l.span())),
        source: ConfigKind::Terraform,
        websocket,
        timers: Vec::new(),
        upgrade: Some(UpgradeSetting {
            enabled,
            what,
            span,
            fix,
        }),
        notes: Vec::new(),
    }
}

/// `template { timeout }`: Cloud Run's request timeout, a WebSocket's
/// maximum age (default 300 s, at most 3600 s).
fn cloud_run(
    loader: &mut Loader,
    vars: &mut Vars,
    file: &File<'_>,
    block: &Block,
    name: &str,
) -> Option<HopConfig> {
    // Without a template there is nothing to insert the timeout into, and
    // the resource is not valid Terraform anyway.
    let template = block.body.get_blocks("template").next()?;
    let mut pending = None;
    let t = timer(
        loader,
        file,
        template,
        "timeout",
        TimerRole::Lifetime,
        ValueStyle::SecondsSuffix,
        &mut pending,
    );
    let mut notes = vec![
        "Cloud Run's request timeout caps every WebSocket's age, pings or not (kb: gcp-cloud-run.max_lifetime_note)".to_owned(),
    ];
    if let Some(var) = pending {
        notes.push(format!("`timeout` comes from var.{var}"));
        vars.pending.push(PendingVar {
            hop: loader.evidence.hops.len(),
            timer: 0,
            dir: file.dir.clone(),
            name: var,
        });
    }
    Some(HopConfig {
        product: "gcp-cloud-run".to_owned(),
        name: format!("google_cloud_run_v2_service.{name}"),
        span: file.span(block.labels.get(1).and_then(|l| l.span())),
        source: ConfigKind::Terraform,
        websocket: names_websocket(name).then(|| format!("its name `{name}` names WebSockets")),
        timers: vec![t],
        upgrade: None,
        notes,
    })
}

/// The line of `span` with the value's characters replaced by `value`.
fn replace_line(
    file: &File<'_>,
    span: &wsdoctor_evidence::config::Span,
    value: &str,
) -> Option<Edit> {
    let line = file
        .text
        .lines()
        .nth(usize::try_from(span.line).ok()?.checked_sub(1)?)?;
    let chars: Vec<char> = line.chars().collect();
    let start = usize::try_from(span.column).ok()?.checked_sub(1)?;
    let end = start.checked_add(usize::try_from(span.len).ok()?)?;
    let mut new: String = chars.get(..start)?.iter().collect();
    new.push_str(value);
    new.extend(chars.get(end..)?);
    Some(Edit::new(
        &file.display,
        span.line,
        EditAction::Replace,
        vec![new.trim_start().to_owned()],
    ))
}

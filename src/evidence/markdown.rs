use crate::core::{AckState, Rotation};
use std::fmt::Write;

/// The Markdown evidence: the same facts as the JSON, for people.
pub fn render_markdown(r: &Rotation) -> String {
    let mut s = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let _ = writeln!(s, "# Rotation {}\n", r.id);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| credential | {} |", r.plan.credential);
    let _ = writeln!(s, "| provider | {} `{}` |", r.plan.provider, r.plan.resource_id);
    let _ = writeln!(s, "| secret | {}/{} |", r.plan.secret.vault, r.plan.secret.name);
    let _ = writeln!(s, "| outcome | **{}** |", r.phase.name());
    let _ = writeln!(s, "| started | {} |", r.started_at.to_rfc3339());
    let _ = writeln!(s, "| finished | {} |", opt(r.finished_at.map(|t| t.to_rfc3339())));
    let _ = writeln!(
        s,
        "| slots | {} → {} |",
        opt(r.old_slot.map(|x| x.to_string())),
        opt(r.new_slot().map(|x| x.to_string()))
    );
    let _ = writeln!(
        s,
        "| versions | {} → {} |",
        opt(r.old_version.as_ref().map(|v| v.to_string())),
        opt(r.new_version.as_ref().map(|v| v.to_string()))
    );
    if let Some(v) = &r.rollback_version {
        let _ = writeln!(s, "| rollback version | {v} |");
    }
    if let Some(stall) = &r.stall {
        let _ = writeln!(s, "| stalled | {} — {} |", stall.at.to_rfc3339(), stall.reason);
    }
    for (what, rec) in [("forced", &r.force), ("rolled back", &r.rollback)] {
        if let Some(f) = rec {
            let _ = writeln!(s, "| {what} | by {} at {}: {} |", f.operator, f.at.to_rfc3339(), f.reason);
        }
    }
    let _ = writeln!(s, "\n## Keys regenerated\n");
    for g in &r.regenerated {
        let _ = writeln!(s, "- {} slot at {}{}", g.slot, g.at.to_rfc3339(), if g.forced { " (forced)" } else { "" });
    }
    let _ = writeln!(s, "\n## Guards\n");
    for g in &r.guards {
        let _ = writeln!(s, "- {g}");
    }
    let _ = writeln!(s, "\n## Consumers\n\n| consumer | wave | attempts | step sent | answer | at | detail |\n|---|---|---|---|---|---|---|");
    for (id, c) in &r.consumers {
        let (answer, at, detail) = match &c.ack {
            AckState::NotSent => ("not sent", None, String::new()),
            AckState::Waiting => ("waiting", None, String::new()),
            AckState::Healthy { at, detail } => ("healthy", Some(at), detail.clone()),
            AckState::Unhealthy { at, detail } => ("unhealthy", Some(at), detail.clone()),
            AckState::Rejected { at, reason } => ("rejected", Some(at), reason.clone()),
        };
        let _ = writeln!(
            s,
            "| {id} | {} | {} | {} | {answer} | {} | {} |",
            c.wave,
            c.attempt,
            opt(c.first_sent_at.map(|t| t.to_rfc3339())),
            opt(at.map(|t| t.to_rfc3339())),
            detail.replace('|', "\\|")
        );
    }
    let _ = writeln!(s, "\n## Timeline\n");
    for e in &r.timeline {
        let _ = writeln!(s, "- {} `{}` {}", e.at.to_rfc3339(), e.phase, e.what);
    }
    s
}

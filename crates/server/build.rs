//! Rebuilds the server when the web dashboard's build output changes, so a release binary
//! always embeds the dashboard that `npm run build` last produced; and lists the dashboard's
//! client-side routes (from `web/src/routes`, one per `+page.svelte`) so that the server can
//! answer 404 for any other page path.

use std::path::Path;

fn routes(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            // `(group)` folders do not appear in the URL; `[param]` matches one segment.
            let segment = if name.starts_with('(') && name.ends_with(')') {
                String::new()
            } else if name.starts_with('[') && name.ends_with(']') {
                "/*".to_owned()
            } else {
                format!("/{name}")
            };
            routes(&path, &format!("{prefix}{segment}"), found);
        } else if name == "+page.svelte" {
            found.push(if prefix.is_empty() { "/".to_owned() } else { prefix.to_owned() });
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=../../web/build");
    println!("cargo:rerun-if-changed=../../web/src/routes");
    let mut found = Vec::new();
    routes(Path::new("../../web/src/routes"), "", &mut found);
    found.sort();
    found.dedup();
    let list: Vec<String> = found.iter().map(|route| format!("{route:?}")).collect();
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("client_routes.rs"), format!("&[{}]", list.join(", ")))
        .expect("writing the client routes");
}

//! Rebuilds the server when the web dashboard's build output changes, so a release binary
//! always embeds the dashboard that `npm run build` last produced.

fn main() {
    println!("cargo:rerun-if-changed=../../web/build");
}

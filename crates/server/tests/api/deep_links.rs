//! Deferred deep links: a tracking link carries a `deep_link`; a new install attributed to a
//! click on it gets it back from `GET /v1/attribution` on first launch, with the click's
//! parameters; an organic install, a click on a link without one, or a link whose deep link
//! was removed get none.

use crate::apps::android_app;
use crate::collect::{Fixture, fixture, link, now_rfc3339, send, settle};
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::{TestApp, TestBackend};

async fn sdk_attribution(app: &TestApp, fixture: &Fixture, device: &str) -> Value {
    let reply = app
        .call_with(
            Method::GET,
            &format!("/v1/attribution?device_id={device}"),
            None,
            None,
            &[("x-app-token", &fixture.app_token)],
        )
        .await;
    assert_eq!(reply.status, 200, "{device}: {}", reply.text);
    reply.body
}

async fn click(app: &TestApp, link: &Value, gaid: &str) {
    let path =
        format!("{}?gaid={gaid}", link["click_url"].as_str().unwrap().trim_start_matches(&app.url));
    assert_eq!(app.call(Method::GET, &path, None, None).await.status, 302);
}

fn install(id: &str, gaid: &str) -> Value {
    // After the click by more than the click-to-install minimum.
    json!({ "id": id, "type": "install", "timestamp": now_rfc3339(60), "device": { "gaid": gaid } })
}

async fn installs_from_a_deep_linked_click_get_the_deep_link(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "ddl.example", android_app("Deep")).await;
    let links = format!("/api/v1/apps/{}/links", fixture.app_id);
    let token = fixture.owner.access_token.clone();

    // Refused deep links name the field; nothing is created.
    for bad in ["javascript:alert(1)", "product/42", "myapp://two words", "data:text/html,x"] {
        let body = json!({ "network": "meta", "campaign": "spring", "deep_link": bad });
        let reply = app.call(Method::POST, &links, Some(&token), Some(&body)).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], "deep_link", "{bad}: {}", reply.text);
    }

    let body = json!({ "network": "meta", "campaign": "spring", "deep_link": " myapp://product/42?color=red " });
    let created = app.call(Method::POST, &links, Some(&token), Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["deep_link"], "myapp://product/42?color=red");
    let deep = created.body;
    let plain = link(&app, &fixture, "unity", "plain").await;
    assert_eq!(plain["deep_link"], Value::Null);

    click(&app, &deep, "ddl-device").await;
    click(&app, &plain, "plain-device").await;
    let installs = [
        install("i-deep", "ddl-device"),
        install("i-plain", "plain-device"),
        install("i-organic", "nobody"),
    ];
    assert_eq!(send(&app, &fixture.app_token, &installs).await.body["accepted"], 3);
    settle(&app).await;

    // First launch after a click on the deep-linked link: the deep link and the click's
    // parameters.
    let first = sdk_attribution(&app, &fixture, "ddl-device").await;
    assert_eq!(first["status"], "attributed", "{first}");
    assert_eq!(first["deep_link"], "myapp://product/42?color=red", "{first}");
    assert_eq!(first["touch"]["link_id"], deep["id"]);
    assert_eq!(first["touch"]["campaign"], "spring");
    assert_eq!(first["touch"]["type"], "click");
    // The dashboard's view of the install says the same.
    let path = format!("/api/v1/apps/{}/installs/i-deep", fixture.app_id);
    let dashboard = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(dashboard.body["deep_link"], "myapp://product/42?color=red", "{}", dashboard.text);
    // A click on a link without one, and an organic install: none.
    let without = sdk_attribution(&app, &fixture, "plain-device").await;
    assert_eq!(without["status"], "attributed", "{without}");
    assert_eq!(without["deep_link"], Value::Null, "{without}");
    let organic = sdk_attribution(&app, &fixture, "nobody").await;
    assert_eq!(organic["status"], "organic", "{organic}");
    assert_eq!(organic["deep_link"], Value::Null, "{organic}");

    // Removing the deep link (an empty value) removes it from the answer too.
    let one = format!("{links}/{}", deep["id"].as_str().unwrap());
    let cleared =
        app.call(Method::PATCH, &one, Some(&token), Some(&json!({ "deep_link": "" }))).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["deep_link"], Value::Null);
    assert_eq!(sdk_attribution(&app, &fixture, "ddl-device").await["deep_link"], Value::Null);
    let set = json!({ "deep_link": "https://example.com/p/7" });
    let changed = app.call(Method::PATCH, &one, Some(&token), Some(&set)).await;
    assert_eq!(changed.body["deep_link"], "https://example.com/p/7", "{}", changed.text);
    let renamed =
        app.call(Method::PATCH, &one, Some(&token), Some(&json!({ "campaign": "summer" }))).await;
    assert_eq!(renamed.body["deep_link"], "https://example.com/p/7", "other changes keep it");
    assert_eq!(
        sdk_attribution(&app, &fixture, "ddl-device").await["deep_link"],
        "https://example.com/p/7"
    );

    app.stop().await;
}

/// Direct deep linking: a click on a retargeting link with a deep link opens the app on it,
/// with the click's parameters; the app's open through it is a re-engagement. Other links go
/// to the store.
async fn retargeting_clicks_open_the_app_on_the_deep_link(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "direct.example", android_app("Direct")).await;
    let links = format!("/api/v1/apps/{}/links", fixture.app_id);
    let token = fixture.owner.access_token.clone();
    let make = |body: Value| {
        let app = &app;
        let links = &links;
        let token = &token;
        async move {
            let reply = app.call(Method::POST, links, Some(token), Some(&body)).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.body
        }
    };
    let winback = make(json!({ "network": "meta", "campaign": "winback", "retargeting": true,
        "deep_link": "myapp://sale/5?tier=gold#top" }))
    .await;
    let plain_retargeting =
        make(json!({ "network": "meta", "campaign": "plain", "retargeting": true })).await;
    let acquisition =
        make(json!({ "network": "meta", "campaign": "new", "deep_link": "myapp://welcome" })).await;
    let web = make(json!({ "network": "meta", "campaign": "web", "retargeting": true,
        "deep_link": "https://phish.example/login" }))
    .await;
    let handler = make(json!({ "network": "meta", "campaign": "handler", "retargeting": true,
        "deep_link": "intent://scan/#Intent;scheme=zxing;end" }))
    .await;

    // The user installed earlier, organically.
    let earlier = json!({ "id": "re-install", "type": "install", "timestamp": now_rfc3339(-3600), "device": { "gaid": "re-device" } });
    assert_eq!(send(&app, &fixture.app_token, &[earlier]).await.body["accepted"], 1);
    settle(&app).await;

    let location = |reply: &unmogrowp_testkit::app::Reply| {
        reply.header("location").unwrap_or_default().to_owned()
    };
    let path = |link: &Value| {
        format!(
            "{}?gaid=re-device",
            link["click_url"].as_str().unwrap().trim_start_matches(&app.url)
        )
    };
    let reply = app.call(Method::GET, &path(&winback), None, None).await;
    assert_eq!(reply.status, 302);
    let target = url::Url::parse(&location(&reply)).unwrap();
    assert_eq!((target.scheme(), target.host_str(), target.path()), ("myapp", Some("sale"), "/5"));
    assert_eq!(target.fragment(), Some("top"));
    let params: std::collections::HashMap<String, String> =
        target.query_pairs().into_owned().collect();
    assert_eq!(params["tier"], "gold");
    assert_eq!(params["unm_link_id"], winback["id"].as_str().unwrap());
    assert_eq!(
        (params["unm_network"].as_str(), params["unm_campaign"].as_str()),
        ("meta", "winback")
    );
    assert!(!params["unm_click_id"].is_empty());
    // Retargeting without a deep link, an acquisition link with one, and web or system-handler
    // deep links (never an open redirect): the store.
    for link in [&plain_retargeting, &acquisition, &web, &handler] {
        let reply = app.call(Method::GET, &path(link), None, None).await;
        assert!(location(&reply).starts_with("https://play.google.com/"), "{}", location(&reply));
    }

    // The app, opened on the deep link, reports the open through the link: a re-engagement
    // credited to the retargeting campaign.
    let open = json!({ "id": "re-open", "type": "open", "timestamp": now_rfc3339(5), "device": { "gaid": "re-device" },
        "link_id": params["unm_link_id"] });
    assert_eq!(send(&app, &fixture.app_token, &[open]).await.body["accepted"], 1);
    settle(&app).await;
    let report = format!("/api/v1/apps/{}/reports/summary?group_by=campaign", fixture.app_id);
    let summary = app.call(Method::GET, &report, Some(&token), None).await;
    let row = summary.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["campaign"] == "winback")
        .cloned();
    assert_eq!(row.map(|r| r["reengagements"].clone()), Some(json!(1)), "{}", summary.text);
    app.stop().await;
}

on_both_backends!(
    installs_from_a_deep_linked_click_get_the_deep_link,
    retargeting_clicks_open_the_app_on_the_deep_link
);

//! GraphQL at `/api/graphql`: the same data and authorization as REST (a viewer API token
//! reads; another organization's ids answer NOT_FOUND), depth, complexity and size limits,
//! persisted queries, anonymous introspection only, and the schema kept in the repository.

use crate::apps::android_app;
use crate::collect::{fixture, link, now_rfc3339, send, settle};
use reqwest::Method;
use serde_json::{Value, json};
use unmogrowp_testkit::app::Reply;
use unmogrowp_testkit::{TestApp, TestBackend};

async fn graphql(app: &TestApp, token: Option<&str>, body: &Value) -> Reply {
    app.call(Method::POST, "/api/graphql", token, Some(body)).await
}

async fn query(app: &TestApp, token: &str, text: &str) -> Value {
    let reply = graphql(app, Some(token), &json!({ "query": text })).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn graphql_reads_what_rest_reads_with_the_same_roles(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "graphql.example", android_app("Graph")).await;
    let owner = fixture.owner.access_token.clone();
    let meta = link(&app, &fixture, "meta", "spring").await;
    let click = format!(
        "{}?gaid=gq-device",
        meta["click_url"].as_str().unwrap().trim_start_matches(&app.url)
    );
    assert_eq!(app.call(Method::GET, &click, None, None).await.status, 302);
    let install = json!({ "id": "gq-install", "type": "install", "timestamp": now_rfc3339(60), "device": { "gaid": "gq-device" } });
    let purchase = json!({ "id": "gq-buy", "type": "event", "name": "purchase", "timestamp": now_rfc3339(61),
        "device": { "gaid": "gq-device" }, "revenue": { "amount": 4.5, "currency": "USD" } });
    assert_eq!(send(&app, &fixture.app_token, &[install, purchase]).await.body["accepted"], 2);
    settle(&app).await;

    // A viewer API token, as a BI tool would use.
    let made = app
        .call(
            Method::POST,
            "/api/v1/org/api-tokens",
            Some(&owner),
            Some(&json!({ "name": "BI", "role": "viewer" })),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let viewer = made.body["token"].as_str().unwrap().to_owned();

    let text = format!(
        r#"{{
          organization {{ name role members {{ email role }} }}
          app(id: "{id}") {{
            id name platform
            links {{ id network campaign clickUrl }}
            summary(groupBy: [NETWORK]) {{ rows {{ network installs events revenue }} totals {{ installs clicks events revenue }} currency }}
            cohorts(days: [0, 1]) {{ days cohorts {{ installs days {{ day retained }} }} }}
            fraud {{ rejectedInstalls flaggedClicks }}
            install(eventId: "gq-install") {{ status matchType touch {{ type network campaign linkId }} }}
          }}
        }}"#,
        id = fixture.app_id
    );
    let body = query(&app, &viewer, &text).await;
    assert_eq!(body["errors"], Value::Null, "{body}");
    let data = &body["data"];
    assert_eq!(data["organization"]["name"], "graphql.example");
    assert_eq!(data["organization"]["role"], "viewer", "{body}");
    assert_eq!(data["app"]["links"][0]["id"], meta["id"]);
    // The same numbers as the REST report.
    let rest = app
        .call(
            Method::GET,
            &format!("/api/v1/apps/{}/reports/summary?group_by=network", fixture.app_id),
            Some(&owner),
            None,
        )
        .await;
    let summary = &data["app"]["summary"];
    assert_eq!(
        summary["totals"]["installs"].as_f64(),
        rest.body["totals"]["installs"].as_f64(),
        "{body}"
    );
    assert_eq!(summary["totals"]["events"], rest.body["totals"]["events"]);
    assert_eq!(summary["totals"]["revenue"], 4.5, "{body}");
    let meta_row =
        summary["rows"].as_array().unwrap().iter().find(|r| r["network"] == "meta").unwrap();
    assert_eq!(meta_row["installs"], 1.0, "{body}");
    assert_eq!(data["app"]["cohorts"]["days"], json!([0, 1]));
    assert_eq!(data["app"]["cohorts"]["cohorts"][0]["installs"], 1, "{body}");
    assert_eq!(data["app"]["cohorts"]["cohorts"][0]["days"][0]["retained"], 1, "{body}");
    let install = &data["app"]["install"];
    assert_eq!(
        (install["status"].as_str(), install["matchType"].as_str()),
        (Some("attributed"), Some("device_id")),
        "{body}"
    );
    assert_eq!(install["touch"]["type"], "click");
    assert_eq!(install["touch"]["linkId"], meta["id"]);

    // Invalid report parameters are the REST API's, with the field named.
    let text = format!(
        r#"{{ app(id: "{}") {{ summary(from: "yesterday") {{ currency }} }} }}"#,
        fixture.app_id
    );
    let body = query(&app, &viewer, &text).await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["errors"][0]["field"], "from", "{body}");

    // Another organization: its app, and an install through it, are not found.
    let stranger = app.register("owner@elsewhere.example", "Elsewhere").await;
    for text in [
        format!(r#"{{ app(id: "{}") {{ name }} }}"#, fixture.app_id),
        format!(
            r#"{{ app(id: "{}") {{ install(eventId: "gq-install") {{ status }} }} }}"#,
            fixture.app_id
        ),
        r#"{ app(id: "../org/members") { name } }"#.to_owned(),
    ] {
        let body = query(&app, &stranger.access_token, &text).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{text}: {body}");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
    let body = query(&app, &stranger.access_token, "{ apps { id } }").await;
    assert_eq!(body["data"]["apps"], json!([]), "{body}");

    // A revoked token stops at once; a made-up one is refused like on REST.
    let revoke = format!("/api/v1/org/api-tokens/{}", made.body["id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &revoke, Some(&owner), None).await.status, 204);
    let reply = graphql(&app, Some(&viewer), &json!({ "query": "{ apps { id } }" })).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    app.stop().await;
}

async fn graphql_limits_persisted_queries_and_introspection(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let fixture = fixture(&app, "limits.example", android_app("Limits")).await;
    let token = fixture.owner.access_token.clone();

    // Too deep: refused before anything runs, saying so.
    let mut deep = String::from("name");
    for _ in 0..16 {
        deep = format!("ofType {{ {deep} }}");
    }
    let text = format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}");
    let body = query(&app, &token, &text).await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{body}");

    // Too complex: nine reports at 50 each.
    let reports: String = (0..9).map(|n| format!("r{n}: summary {{ currency }} ")).collect();
    let body = query(&app, &token, &format!("{{ apps {{ {reports} }} }}")).await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{body}");
    // Within the limit, it runs.
    let reports: String = (0..5).map(|n| format!("r{n}: summary {{ currency }} ")).collect();
    let body = query(&app, &token, &format!("{{ apps {{ {reports} }} }}")).await;
    assert_eq!(body["errors"], Value::Null, "{body}");

    // A field under a list runs once per element: at most 60 reads per request.
    for n in 0..12 {
        let mut body = android_app(&format!("Extra {n}"));
        body["bundle_id"] = json!(format!("com.example.extra{n}"));
        let made = app.call(Method::POST, "/api/v1/apps", Some(&token), Some(&body)).await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    let reports: String = (0..5).map(|n| format!("r{n}: summary {{ currency }} ")).collect();
    let body = query(&app, &token, &format!("{{ apps {{ {reports} }} }}")).await;
    assert!(codes(&body).iter().any(|code| code == "TOO_MANY_READS"), "{body}");
    // Ids that look like path steps are ids like any other.
    for id in ["..", ".", ""] {
        let body = query(&app, &token, &format!(r#"{{ app(id: "{id}") {{ name }} }}"#)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{id:?}: {body}");
    }

    // Too long a text: 400 naming the field.
    let long = format!("{{ apps {{ id }} }} #{}", "x".repeat(40 * 1024));
    let reply = graphql(&app, Some(&token), &json!({ "query": long })).await;
    assert_eq!(
        (reply.status, reply.body["errors"][0]["field"].as_str()),
        (400, Some("query")),
        "{}",
        reply.text
    );

    // Automatic persisted queries: the hash alone is unknown until the text came with it.
    let text = "{ apps { name } }";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let reply = graphql(&app, Some(&token), &json!({ "extensions": persisted })).await;
    assert!(reply.text.contains("PersistedQueryNotFound"), "{}", reply.text);
    let reply =
        graphql(&app, Some(&token), &json!({ "query": text, "extensions": persisted })).await;
    assert_eq!(reply.body["data"]["apps"][0]["name"], "Limits", "{}", reply.text);
    let reply = graphql(&app, Some(&token), &json!({ "extensions": persisted })).await;
    assert_eq!(reply.body["data"]["apps"][0]["name"], "Limits", "{}", reply.text);

    // Anonymous: introspection answers, data does not.
    let reply =
        graphql(&app, None, &json!({ "query": "{ __schema { queryType { name } } }" })).await;
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query", "{}", reply.text);
    let reply = graphql(&app, None, &json!({ "query": "{ apps { id } }" })).await;
    assert_eq!(codes(&reply.body), ["UNAUTHENTICATED"], "{}", reply.text);
    // A body that is not a GraphQL request.
    let reply = graphql(&app, Some(&token), &json!({ "query": 3 })).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let reply =
        graphql(&app, Some(&token), &json!({ "query": "{ apps { id } }", "variables": [1] })).await;
    assert_eq!(
        (reply.status, reply.body["errors"][0]["field"].as_str()),
        (400, Some("variables")),
        "{}",
        reply.text
    );

    // The schema kept in the repository is the server's.
    let served = app.get("/api/graphql/schema.graphql").await.text().await.unwrap();
    let kept_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/schema.graphql");
    let kept = std::fs::read_to_string(&kept_path).unwrap();
    assert!(
        served == kept,
        "web/schema.graphql is out of date: regenerate it with `curl <server>/api/graphql/schema.graphql > web/schema.graphql`"
    );
    // GraphiQL is served with its assets' paths on this server.
    let page = app.get("/api/graphql").await.text().await.unwrap();
    assert!(
        page.contains("/vendor/graphiql/graphiql.min.js") && page.contains("/graphiql-init.js"),
        "{page}"
    );
    app.stop().await;
}

on_both_backends!(
    graphql_reads_what_rest_reads_with_the_same_roles,
    graphql_limits_persisted_queries_and_introspection
);

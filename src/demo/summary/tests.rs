use super::*;
use crate::demo::ideal::Leg;

fn report() -> Report {
    Report {
        speed: 2.0,
        seconds: 21.5,
        transitions: vec![TransitionSummary {
            kind: "Failover".into(),
            from: Some("site-a".into()),
            to: "site-b".into(),
            seconds: 4.25,
            recorded_seconds: 4,
            ideal: Ideal {
                seconds: 3.075,
                legs: vec![
                    Leg {
                        what: "group: forced failover".into(),
                        seconds: 0.075,
                    },
                    Leg {
                        what: "start master-confserv → master-scs → message-server".into(),
                        seconds: 3.0,
                    },
                ],
            },
            lost_transactions: 7,
            steps: 4,
            planned_steps: 12,
            sql_steps: 1,
            lost_sites: vec!["site-a".into()],
        }],
        steps_between: 3,
        steps: 8,
        lost_transactions: 7,
        confirmations: vec![Confirmation {
            what: "site-lost".into(),
            token: "abc".into(),
            command: "kubectl annotate drsite contact-center drover.dev/confirm-site-lost=abc --overwrite".into(),
        }],
        drsites: vec![DrSiteRow::new("contact-center", "site-b", &DrSiteStatus::default(), 75)],
    }
}

#[test]
fn json_has_camel_case_fields_and_figures_as_numbers() {
    let json = serde_json::to_value(report()).expect("serializes");
    assert_eq!(json["speed"], 2.0);
    assert_eq!(json["stepsBetween"], 3);
    assert_eq!(json["lostTransactions"], 7);
    let t = &json["transitions"][0];
    assert_eq!(t["kind"], "Failover");
    assert_eq!(t["from"], "site-a");
    assert_eq!(t["recordedSeconds"], 4);
    assert_eq!(t["sqlSteps"], 1);
    assert_eq!(t["plannedSteps"], 12);
    assert_eq!(t["lostSites"], serde_json::json!(["site-a"]));
    assert_eq!(t["ideal"]["seconds"], 3.075);
    assert_eq!(t["ideal"]["legs"][0]["what"], "group: forced failover");
    assert_eq!(json["confirmations"][0]["what"], "site-lost");
    assert_eq!(
        json["drsites"][0],
        serde_json::json!({
            "name": "contact-center", "active": "<none>", "desired": "site-b", "phase": "<none>",
            "ready": "<none>", "step": "<none>", "age": "1m15s"
        })
    );
}

#[test]
fn yaml_says_the_same_as_json() {
    let yaml = serde_saphyr::to_string(&report()).expect("serializes");
    let back: serde_json::Value = serde_saphyr::from_str(&yaml).expect("parses");
    assert_eq!(back, serde_json::to_value(report()).expect("serializes"));
}

#[test]
fn text_shows_the_table_and_every_figure() {
    let text = report().text();
    assert!(
        text.contains("NAME             ACTIVE   DESIRED   PHASE    READY    STEP     AGE"),
        "{text}"
    );
    assert!(
        text.contains("contact-center   <none>   site-b    <none>   <none>   <none>   1m15s"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("Failover"))
        .expect("a Failover row");
    let cells: Vec<&str> = row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells, ["Failover", "site-a", "site-b", "4.2 s", "3.1 s", "4", "1", "7"]);
    assert!(
        text.contains("8 steps in 21.5 s at speed 2 (3 between transitions); 7 acknowledged"),
        "{text}"
    );
    assert!(
        text.contains("confirmed site-lost for you: kubectl annotate drsite"),
        "{text}"
    );
}

//! The engine's API contract beyond Helm's output: what it reports for functions it lacks, and
//! rendering with per-chart top-level values.

use std::rc::Rc;

use helm::template::{Engine, Error, FuncTable, Map, MapType, Template, Value};

fn one(text: &str) -> Vec<(String, String)> {
    vec![("c/templates/a.yaml".to_string(), text.to_string())]
}

#[test]
fn an_unimplemented_helm_function_is_unsupported_at_parse_time() {
    let r = Engine::default().render(&one("{{ if false }}{{ toToml . }}{{ end }}"), Value::empty_map());
    assert_eq!(r, Err(Error::Unsupported("toToml".into())));
}

#[test]
fn lazily_an_unimplemented_function_fails_only_when_called() {
    let engine = Engine {
        funcs: Rc::new(FuncTable::helm().with_lazy_unsupported()),
        ..Engine::default()
    };
    let r = engine.render(&one("x{{ if false }}{{ toToml . }}{{ end }}"), Value::empty_map());
    assert_eq!(r.map(|m| m["c/templates/a.yaml"].clone()), Ok("x".to_string()));
    let r = engine.render(&one("{{ toToml . }}"), Value::empty_map());
    assert_eq!(r, Err(Error::Unsupported("toToml".into())));
}

#[test]
fn an_unsupported_function_inside_tpl_is_unsupported() {
    let r = Engine::default().render(&one("{{ tpl \"{{ toToml . }}\" . }}"), Value::empty_map());
    assert_eq!(r, Err(Error::Unsupported("toToml".into())));
}

#[test]
fn a_function_helm_lacks_is_helms_parse_error() {
    let r = Engine::default().render(&one("{{ nope 1 }}"), Value::empty_map());
    assert_eq!(
        r,
        Err(Error::Render(
            "parse error at (c/templates/a.yaml:1): function \"nope\" not defined".into()
        ))
    );
}

#[test]
fn each_template_sees_its_own_charts_values() {
    let top = |v: &str| {
        let m = Map::new(MapType::Values);
        let values = Map::new(MapType::Values);
        values.insert("who".into(), Value::str(v));
        m.insert("Values".into(), Value::Map(values));
        Value::Map(m)
    };
    let ts = vec![
        Template {
            name: "p/templates/a.yaml".into(),
            text: "{{ .Values.who }} {{ .Template.BasePath }}".into(),
            top: top("parent"),
        },
        Template {
            name: "p/charts/s/templates/b.yaml".into(),
            text: "{{ .Values.who }} {{ .Template.BasePath }}".into(),
            top: top("sub"),
        },
    ];
    let out = Engine::default().render_templates(&ts).expect("renders");
    assert_eq!(out["p/templates/a.yaml"], "parent p/templates");
    assert_eq!(out["p/charts/s/templates/b.yaml"], "sub p/charts/s/templates");
}

/// Evaluation recursion runs on a growable stack; dropping a nested tree or value still
/// recurses on the thread's own stack, so the depth here is what a 2 MiB thread (tokio's
/// default) takes.
#[test]
fn deep_nesting_does_not_exhaust_the_stack() {
    let depth = 2000;
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth));
    let ifs = format!("{}x{}", "{{ if true }}".repeat(depth), "{{ end }}".repeat(depth));
    let lists = "{{ $x := list }}{{ range until 2000 }}{{ $x = list $x }}{{ end }}{{ toJson $x | len }} {{ $x | len }}";
    for (text, want) in [(parens.as_str(), "1"), (ifs.as_str(), "x"), (lists, "4002 1")] {
        let out = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn({
                let text = text.to_string();
                move || {
                    Engine::default()
                        .render(&one(&text), Value::empty_map())
                        .map(|m| m["c/templates/a.yaml"].clone())
                }
            })
            .expect("a thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(out, Ok(want.to_string()));
    }
}

/// `Engine::execute` is Go's `Parse` + `Execute` of one template: `missingkey=error` fails on a
/// missing map key with Go's text; without it Go prints `<no value>` (Helm's loop removes it).
#[test]
fn execute_one_template_with_missingkey_error_or_not() {
    let data = Value::from(serde_json::json!({"c": "a"}));
    let engine = Engine::default();
    assert_eq!(
        engine.execute("base", "{{ .c }}-{{ .nope }}", data.clone(), false),
        Ok("a-<no value>".to_string())
    );
    assert_eq!(
        engine.execute("base", "{{ .c }}-{{ .nope }}", data, true),
        Err(Error::Render(
            "template: base:1:12: executing \"base\" at <.nope>: map has no entry for key \"nope\"".into()
        ))
    );
}

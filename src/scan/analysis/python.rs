//! Python: facts from Ruff's AST. One walk per file in source order; each expression is
//! evaluated to a [`Val`] — its folded text where it is a constant, the dotted name it resolves
//! to through imports, `getattr`, `__import__` and `__builtins__[...]`, and the origins of its
//! content — so a call sees what flows into it, and names built at run time resolve.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::{self as ast, Expr, Number, Stmt};
use ruff_text_size::Ranged;

use super::{Behaviour, Fact, Facts, Origin, Site, Taint, When, decode, strings};

/// How many layers of decoded code are analysed again.
const MAX_DEPTH: u8 = 4;
/// Decoded bytes analysed per file, over all layers.
const MAX_DECODED: usize = 16 << 20;
/// Folded strings longer than this are cut (a payload's class shows in its first bytes).
const MAX_TEXT: usize = 1 << 20;
/// How deep expressions and blocks are followed (CPython's own parser stops near 200).
const MAX_NESTING: u32 = 200;
/// Elements evaluated one by one in a comprehension over a constant list (`chr` arithmetic).
const MAX_ITEMS: usize = 65_536;

/// Analyses one Python source into `facts`.
///
/// The AST is built and dropped on a stack of its own: Ruff's parser grows its stack while it
/// descends, but dropping a left-deep tree (`'a' + 'a' + …` a hundred thousand times) recurses
/// once per level. A file deeper than [`MAX_CHAIN`] is not parsed at all (`false`): nothing
/// CPython could run is that deep.
pub fn analyse(path: &str, source: &str, when: When, facts: &mut Facts) -> bool {
    if deepest_chain(source) > MAX_CHAIN {
        return false;
    }
    stacker::grow(ANALYSIS_STACK, || {
        let mut budget = MAX_DECODED;
        let mut walker = Walker::new(path, source, when, None, 0, &mut budget, facts);
        walker.module();
    });
    true
}

/// Operators and brackets in one logical line, the most the AST can nest.
const MAX_CHAIN: usize = 100_000;
/// Enough for [`MAX_CHAIN`] levels of AST drop frames with room to spare; pages are touched
/// only as deep as a file really goes.
const ANALYSIS_STACK: usize = 64 << 20;

/// The largest count of operator and bracket characters in one logical line (strings and
/// comments skipped): an upper bound on how deep the line's expression tree can be.
fn deepest_chain(source: &str) -> usize {
    let bytes = source.as_bytes();
    let (mut i, mut depth, mut count, mut most) = (0, 0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'\'' | b'"') => {
                let triple = bytes.get(i..i + 3) == Some(&[q, q, q][..]);
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if triple {
                        if bytes.get(i..i + 3) == Some(&[q, q, q][..]) {
                            i += 3;
                            break;
                        }
                    } else if bytes[i] == q || bytes[i] == b'\n' {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                count += 1;
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' if depth == 0 => {
                most = most.max(count);
                count = 0;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>' | b'.'
            | b'@' | b'=' => count += 1,
            _ => {}
        }
        i += 1;
    }
    most.max(count)
}

#[derive(Clone, Debug, Default)]
struct Val {
    /// The constant text, where it folds to one.
    text: Option<String>,
    /// The text was built at run time (reversed, joined, decoded, concatenated).
    computed: bool,
    /// Parts of the text are unknown (an f-string's holes, shown as `*`): a template whose
    /// constant parts are in plain sight, as code generators write them.
    partial: bool,
    /// The dotted name this value denotes (`subprocess.Popen`, `requests.Session()`).
    name: Option<String>,
    /// The variable it was read from.
    var: Option<String>,
    int: Option<i64>,
    origins: Vec<Origin>,
    /// Elements of a list or tuple.
    items: Vec<Val>,
    /// The receiver of an attribute (for method calls on a value).
    receiver: Option<Box<Val>>,
    /// For a file opened for writing: its path.
    write_to: Option<Box<Val>>,
}

impl Val {
    fn named(name: impl Into<String>) -> Val {
        Val {
            name: Some(name.into()),
            ..Val::default()
        }
    }

    fn text(text: String, computed: bool) -> Val {
        let mut text = text;
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Val {
            text: Some(text),
            computed,
            ..Val::default()
        }
    }

    fn add_origins(&mut self, from: &[Origin]) {
        for o in from {
            if !self.origins.contains(o) && self.origins.len() < 16 {
                self.origins.push(o.clone());
            }
        }
    }

    /// The text of a command: the string, or a list's element texts joined by spaces.
    fn command(&self) -> Option<String> {
        self.text.clone().or_else(|| {
            let parts: Vec<&str> = self
                .items
                .iter()
                .filter_map(|i| i.text.as_deref())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    }
}

/// Where decoded code was found, for the facts inside it.
struct Outer {
    line: u32,
    unit: String,
    when: When,
}

struct Scope {
    function: Option<String>,
    vars: HashMap<String, Val>,
}

struct Walker<'a> {
    path: &'a str,
    source: &'a str,
    newlines: Vec<usize>,
    outer: Option<Outer>,
    depth: u8,
    budget: &'a mut usize,
    facts: &'a mut Facts,
    aliases: HashMap<String, String>,
    scopes: Vec<Scope>,
    module_when: When,
    /// Local functions and the origins of what they return.
    returns: HashMap<String, Vec<Origin>>,
    /// Local functions called from the module's top level.
    called_at_top: HashSet<String>,
    /// Paths downloaded content was written to.
    written: Vec<(String, Origin)>,
    /// Evaluating the same expression again (a comprehension's elements): record no facts.
    quiet: u32,
    /// How deep the walk is in expressions and blocks now.
    nesting: u32,
}

fn is_module(name: &str, module: &str) -> bool {
    name == module || name.starts_with(module) && name[module.len()..].starts_with('.')
}

fn last(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Names whose call runs code or commands: reaching one through a computed name is hiding it.
fn sensitive(name: &str) -> bool {
    matches!(
        name,
        "exec" | "eval" | "compile" | "__import__" | "os.system" | "os.popen" | "marshal.loads"
    ) || is_module(name, "subprocess")
        || is_module(name, "ctypes")
        || is_module(name, "socket")
        || name.starts_with("base64.b")
        || name == "urllib.request.urlopen"
        || name == "os"
        || name == "builtins"
        || name == "__builtins__"
}

const DATA_EXTENSIONS: &[&str] = &[
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".bmp", ".svg", ".webp", ".json", ".dat", ".bin",
    ".txt", ".csv", ".wav", ".mp3", ".ttf", ".woff", ".db", ".cfg", ".ini", ".yaml", ".yml",
    ".xml", ".pkl", ".npy",
];

impl<'a> Walker<'a> {
    fn new(
        path: &'a str,
        source: &'a str,
        when: When,
        outer: Option<Outer>,
        depth: u8,
        budget: &'a mut usize,
        facts: &'a mut Facts,
    ) -> Walker<'a> {
        let newlines = source
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Walker {
            path,
            source,
            newlines,
            outer,
            depth,
            budget,
            facts,
            aliases: HashMap::new(),
            scopes: vec![Scope {
                function: None,
                vars: HashMap::new(),
            }],
            module_when: when,
            returns: HashMap::new(),
            called_at_top: HashSet::new(),
            written: Vec::new(),
            quiet: 0,
            nesting: 0,
        }
    }

    fn module(&mut self) {
        let parsed = ruff_python_parser::parse_unchecked_source(
            self.source,
            ruff_python_ast::PySourceType::Python,
        );
        let first_fact = self.facts.facts.len();
        self.stmts(&parsed.syntax().body);
        // A function the module itself calls runs at import (or install) time.
        if self.outer.is_none() {
            let when = self.module_when.clone();
            for f in &mut self.facts.facts[first_fact..] {
                if let When::Call(name) = &f.when
                    && self.called_at_top.contains(name)
                {
                    f.detail = format!("{} (in {name}(), called at the top level)", f.detail);
                    f.when = when.clone();
                }
            }
        }
    }

    fn line(&self, offset: usize) -> u32 {
        if let Some(o) = &self.outer {
            return o.line;
        }
        self.newlines.partition_point(|n| *n < offset) as u32 + 1
    }

    fn site(&self, offset: usize) -> Site {
        Site {
            file: self.path.to_string(),
            line: self.line(offset),
        }
    }

    fn function(&self) -> Option<&str> {
        self.scopes.iter().rev().find_map(|s| s.function.as_deref())
    }

    fn unit(&self) -> String {
        if let Some(o) = &self.outer {
            return o.unit.clone();
        }
        format!("{}:{}", self.path, self.function().unwrap_or("<module>"))
    }

    fn when(&self) -> When {
        if let Some(o) = &self.outer {
            return o.when.clone();
        }
        match self.function() {
            Some(f) => When::Call(f.to_string()),
            None => self.module_when.clone(),
        }
    }

    fn snippet(&self, offset: usize) -> String {
        let start = self.source[..offset.min(self.source.len())]
            .rfind('\n')
            .map_or(0, |p| p + 1);
        let end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |p| start + p);
        let line: String = self.source[start..end]
            .trim()
            .chars()
            .take(160)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if self.outer.is_some() {
            format!("(decoded) {line}")
        } else {
            line
        }
    }

    fn origin(&self, taint: Taint, offset: usize, detail: String) -> Origin {
        Origin {
            taint,
            site: self.site(offset),
            detail,
        }
    }

    fn fact(&mut self, behaviour: Behaviour, offset: usize, detail: String, from: Vec<Origin>) {
        if self.quiet > 0 {
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
        self.facts.facts.push(fact);
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.scopes.iter().rev().find_map(|s| s.vars.get(name))
    }

    fn bind(&mut self, target: &Expr, val: Val) {
        match target {
            Expr::Name(n) => {
                if let Some(scope) = self.scopes.last_mut() {
                    scope.vars.insert(n.id.to_string(), val);
                }
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                for (i, e) in elts.iter().enumerate() {
                    let mut v = val.items.get(i).cloned().unwrap_or_default();
                    v.add_origins(&val.origins);
                    self.bind(e, v);
                }
            }
            Expr::Starred(s) => self.bind(&s.value, val),
            _ => {}
        }
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        if self.nesting >= MAX_NESTING {
            return;
        }
        self.nesting += 1;
        self.stmt_inner(stmt);
        self.nesting -= 1;
    }

    fn stmt_inner(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                for d in &f.decorator_list {
                    self.eval(&d.expression);
                }
                let name = f.name.as_str().to_string();
                self.scopes.push(Scope {
                    function: Some(name.clone()),
                    vars: HashMap::new(),
                });
                self.returns.entry(name).or_default();
                self.stmts(&f.body);
                self.scopes.pop();
            }
            Stmt::ClassDef(c) => self.stmts(&c.body),
            Stmt::Assign(a) => {
                let v = self.eval(&a.value);
                for t in &a.targets {
                    self.bind(t, v.clone());
                }
            }
            Stmt::AnnAssign(a) => {
                if let Some(value) = &a.value {
                    let v = self.eval(value);
                    self.bind(&a.target, v);
                }
            }
            Stmt::AugAssign(a) => {
                let prev = self.eval(&a.target);
                let add = self.eval(&a.value);
                let mut v = match (&prev.text, &add.text, a.op) {
                    (Some(p), Some(q), ast::Operator::Add) => Val {
                        partial: prev.partial || add.partial,
                        ..Val::text(format!("{p}{q}"), true)
                    },
                    _ => Val::default(),
                };
                v.add_origins(&prev.origins);
                v.add_origins(&add.origins);
                self.bind(&a.target, v);
            }
            // A docstring is documentation, never run.
            Stmt::Expr(e) if matches!(&*e.value, Expr::StringLiteral(_)) => {}
            Stmt::Expr(e) => {
                self.eval(&e.value);
            }
            Stmt::Return(r) => {
                if let Some(value) = &r.value {
                    let v = self.eval(value);
                    if let Some(f) = self.function().map(str::to_string)
                        && let Some(out) = self.returns.get_mut(&f)
                    {
                        for o in v.origins {
                            if !out.contains(&o) && out.len() < 16 {
                                out.push(o);
                            }
                        }
                    }
                }
            }
            Stmt::Import(i) => {
                for a in &i.names {
                    let full = a.name.as_str();
                    match &a.asname {
                        Some(alias) => {
                            self.aliases
                                .insert(alias.as_str().to_string(), full.to_string());
                        }
                        None => {
                            let first = full.split('.').next().unwrap_or(full);
                            self.aliases.insert(first.to_string(), first.to_string());
                        }
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                let module = i.module.as_ref().map_or("", |m| m.as_str());
                for a in &i.names {
                    let local = a.asname.as_ref().unwrap_or(&a.name).as_str().to_string();
                    let full = if module.is_empty() {
                        a.name.as_str().to_string()
                    } else {
                        format!("{module}.{}", a.name.as_str())
                    };
                    self.aliases.insert(local, full);
                }
            }
            Stmt::If(s) => {
                self.eval(&s.test);
                self.stmts(&s.body);
                for c in &s.elif_else_clauses {
                    if let Some(t) = &c.test {
                        self.eval(t);
                    }
                    self.stmts(&c.body);
                }
            }
            Stmt::While(s) => {
                self.eval(&s.test);
                self.stmts(&s.body);
                self.stmts(&s.orelse);
            }
            Stmt::For(s) => {
                let v = self.eval(&s.iter);
                let mut item = v.items.first().cloned().unwrap_or_default();
                item.add_origins(&v.origins);
                self.bind(&s.target, item);
                self.stmts(&s.body);
                self.stmts(&s.orelse);
            }
            Stmt::With(s) => {
                for item in &s.items {
                    let v = self.eval(&item.context_expr);
                    if let Some(t) = &item.optional_vars {
                        self.bind(t, v);
                    }
                }
                self.stmts(&s.body);
            }
            Stmt::Try(s) => {
                self.stmts(&s.body);
                for h in &s.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    self.stmts(&h.body);
                }
                self.stmts(&s.orelse);
                self.stmts(&s.finalbody);
            }
            Stmt::Raise(r) => {
                if let Some(e) = &r.exc {
                    self.eval(e);
                }
            }
            Stmt::Match(m) => {
                self.eval(&m.subject);
                for c in &m.cases {
                    self.stmts(&c.body);
                }
            }
            _ => {}
        }
    }

    /// A string constant: classified, decoded when it looks encoded.
    fn literal(&mut self, text: String, offset: usize, computed: bool) -> Val {
        let mut v = Val::text(text, computed);
        if self.quiet > 0 {
            return v;
        }
        let Some(text) = v.text.clone() else {
            return v;
        };
        self.classify(&text, offset, &mut v);
        if strings::invisible_count(&text) >= 16 {
            let payload = strings::invisible_payload(&text);
            self.fact(
                Behaviour::InvisibleText,
                offset,
                format!(
                    "{} invisible characters hiding {} bytes",
                    strings::invisible_count(&text),
                    payload.len()
                ),
                Vec::new(),
            );
            if decode::looks_like_text(&payload) {
                let code = String::from_utf8_lossy(&payload).into_owned();
                self.nested(&code, offset);
                v.add_origins(&[self.origin(
                    Taint::Decoded,
                    offset,
                    "code hidden in invisible Unicode characters".into(),
                )]);
            }
        } else if text.len() >= 40
            && let Some(o) = self.encoded_code(&text, offset, "an encoded literal")
        {
            v.add_origins(&[o]);
        }
        v
    }

    /// A literal that decodes (without being told how) to code: analysed, and the source its
    /// value carries.
    fn encoded_code(&mut self, text: &str, offset: usize, what: &str) -> Option<Origin> {
        let decoded = decode::guess(text.as_bytes())?;
        if !decode::looks_like_text(&decoded) {
            return None;
        }
        let code = String::from_utf8_lossy(&decoded).into_owned();
        if !looks_like_code(&code) {
            return None;
        }
        self.nested(&code, offset);
        Some(self.origin(
            Taint::Decoded,
            offset,
            format!("{what} that decodes to code"),
        ))
    }

    /// Facts from what a string says (credential paths, persistence locations, miners, …).
    fn classify(&mut self, text: &str, offset: usize, v: &mut Val) {
        let head = &text[..floor_boundary(text, 64 << 10)];
        for (behaviour, what) in strings::classify(head) {
            match behaviour {
                Behaviour::ReadsCredentials => {
                    v.add_origins(&[self.origin(Taint::Credential, offset, what.to_string())]);
                }
                // A fact once the path is written to or a command uses it (see `wrote`).
                Behaviour::Persists => {
                    v.add_origins(&[self.origin(Taint::AutostartPath, offset, what.to_string())]);
                    continue;
                }
                _ => {}
            }
            self.fact(behaviour, offset, what.to_string(), Vec::new());
        }
    }

    /// Persistence facts for autostart places among a sink's values: a command that names one,
    /// a file written there.
    fn persists_through(&mut self, origins: &[Origin], offset: usize, how: &str) {
        let places: Vec<String> = origins
            .iter()
            .filter(|o| o.taint == Taint::AutostartPath)
            .map(|o| o.detail.clone())
            .collect();
        for what in places {
            self.fact(
                Behaviour::Persists,
                offset,
                format!("{what} ({how})"),
                Vec::new(),
            );
        }
    }

    /// Decoded code, analysed as part of the unit holding it.
    fn nested(&mut self, code: &str, offset: usize) {
        if self.depth >= MAX_DEPTH || *self.budget < code.len() {
            return;
        }
        *self.budget -= code.len();
        let outer = Outer {
            line: self.line(offset),
            unit: self.unit(),
            when: self.when(),
        };
        let path = self.path;
        let depth = self.depth + 1;
        let mut child = Walker::new(
            path,
            code,
            self.module_when.clone(),
            Some(outer),
            depth,
            &mut *self.budget,
            &mut *self.facts,
        );
        child.module();
    }

    /// A decoded value: its text analysed again when it reads as code.
    fn decoded(&mut self, bytes: Vec<u8>, offset: usize, how: &str) -> Val {
        let mut v = if decode::looks_like_text(&bytes) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut v = Val::text(text.clone(), true);
            self.classify(&text, offset, &mut v);
            if looks_like_code(&text) {
                self.nested(&text, offset);
            }
            v
        } else {
            // Binary (a marshalled code object, say): its printable runs hold its names.
            let runs = decode::printable_runs(&bytes);
            let mut v = Val::default();
            self.classify(&runs, offset, &mut v);
            v.computed = true;
            v.text = None;
            v
        };
        v.add_origins(&[self.origin(Taint::Decoded, offset, format!("decodes with {how}"))]);
        v
    }

    /// Evaluation bounded in depth: a hostile file of 100 000 nested parentheses or a chain
    /// of as many `+` must not exhaust the stack (the parser grows its own; this walk does not).
    fn eval(&mut self, e: &Expr) -> Val {
        if self.nesting >= MAX_NESTING {
            return Val::default();
        }
        self.nesting += 1;
        let v = self.eval_inner(e);
        self.nesting -= 1;
        v
    }

    fn eval_inner(&mut self, e: &Expr) -> Val {
        let offset = e.start().to_usize();
        match e {
            Expr::StringLiteral(s) => {
                // Written as escapes (`"\x69\x6d…"`): spelled so a reader cannot see it.
                let raw = &self.source[s.range().start().to_usize()
                    ..s.range().end().to_usize().min(self.source.len())];
                let escaped = raw.matches("\\x").count() + raw.matches("\\u").count() >= 8;
                self.literal(s.value.to_str().to_string(), offset, escaped)
            }
            Expr::BytesLiteral(b) => {
                let bytes: Vec<u8> = b.value.bytes().collect();
                self.literal(String::from_utf8_lossy(&bytes).into_owned(), offset, false)
            }
            Expr::FString(f) => {
                let mut text = String::new();
                let mut origins = Vec::new();
                let mut partial = false;
                for part in f.value.iter() {
                    match part {
                        ast::FStringPart::Literal(l) => text.push_str(&l.value),
                        ast::FStringPart::FString(fs) => {
                            for el in fs.elements.iter() {
                                match el {
                                    ast::InterpolatedStringElement::Literal(l) => {
                                        text.push_str(&l.value)
                                    }
                                    ast::InterpolatedStringElement::Interpolation(i) => {
                                        let v = self.eval(&i.expression);
                                        match v.text {
                                            Some(t) => text.push_str(&t),
                                            None => {
                                                text.push('*');
                                                partial = true;
                                            }
                                        }
                                        origins.extend(v.origins);
                                    }
                                }
                            }
                        }
                    }
                }
                let mut v = self.literal(text, offset, true);
                v.partial = partial;
                v.add_origins(&origins);
                v
            }
            Expr::NumberLiteral(n) => Val {
                int: match &n.value {
                    Number::Int(i) => i.as_i64(),
                    _ => None,
                },
                ..Val::default()
            },
            Expr::Name(n) => {
                let id = n.id.as_str();
                let mut v = if let Some(v) = self.lookup(id) {
                    v.clone()
                } else if let Some(full) = self.aliases.get(id) {
                    Val::named(full.clone())
                } else {
                    Val::named(id)
                };
                v.var = Some(id.to_string());
                v
            }
            Expr::Attribute(a) => {
                let base = self.eval(&a.value);
                let attr = a.attr.as_str();
                let name = match base.name.as_deref() {
                    Some(n @ ("__builtins__" | "builtins")) if attr == "__dict__" => {
                        Some(format!("{n}.__dict__"))
                    }
                    Some("__builtins__" | "builtins") => Some(attr.to_string()),
                    Some(n) => Some(format!("{n}.{attr}")),
                    None => None,
                };
                Val {
                    name,
                    origins: base.origins.clone(),
                    receiver: Some(Box::new(base)),
                    ..Val::default()
                }
            }
            Expr::Subscript(s) => self.subscript(s),
            Expr::Call(c) => self.call(c),
            Expr::BinOp(b) => {
                let l = self.eval(&b.left);
                let r = self.eval(&b.right);
                let mut v = match (&l.text, &r.text, b.op) {
                    (Some(x), Some(y), ast::Operator::Add) => {
                        let mut v = self.quiet_literal(format!("{x}{y}"), offset);
                        v.partial = l.partial || r.partial;
                        v
                    }
                    (Some(x), Some(y), ast::Operator::Div) => {
                        self.quiet_literal(format!("{x}/{y}"), offset)
                    }
                    (None, Some(y), ast::Operator::Div) if l.name.is_some() => {
                        self.quiet_literal(format!("*/{y}"), offset)
                    }
                    _ => Val {
                        int: match (l.int, r.int, b.op) {
                            (Some(x), Some(y), ast::Operator::Add) => x.checked_add(y),
                            (Some(x), Some(y), ast::Operator::Sub) => x.checked_sub(y),
                            (Some(x), Some(y), ast::Operator::BitXor) => Some(x ^ y),
                            (Some(x), Some(y), ast::Operator::Mult) => x.checked_mul(y),
                            _ => None,
                        },
                        ..Val::default()
                    },
                };
                v.add_origins(&l.origins);
                v.add_origins(&r.origins);
                v
            }
            Expr::List(ast::ExprList { elts, .. })
            | Expr::Tuple(ast::ExprTuple { elts, .. })
            | Expr::Set(ast::ExprSet { elts, .. }) => {
                let items: Vec<Val> = elts.iter().map(|x| self.eval(x)).collect();
                let mut v = Val::default();
                for i in &items {
                    v.add_origins(&i.origins);
                }
                v.items = items;
                v
            }
            Expr::Dict(d) => {
                let mut v = Val::default();
                for item in &d.items {
                    if let Some(k) = &item.key {
                        let k = self.eval(k);
                        v.add_origins(&k.origins);
                    }
                    let val = self.eval(&item.value);
                    if item.key.is_none() && val.name.as_deref() == Some("os.environ") {
                        v.add_origins(&[self.environment(offset)]);
                    }
                    v.add_origins(&val.origins);
                }
                v
            }
            Expr::ListComp(ast::ExprListComp {
                elt, generators, ..
            })
            | Expr::SetComp(ast::ExprSetComp {
                elt, generators, ..
            })
            | Expr::Generator(ast::ExprGenerator {
                elt, generators, ..
            }) => self.comprehension(elt, None, generators),
            Expr::DictComp(d) => match &d.key {
                Some(k) => self.comprehension(k, Some(&d.value), &d.generators),
                None => self.comprehension(&d.value, None, &d.generators),
            },
            Expr::Lambda(l) => {
                let mut v = self.eval(&l.body);
                v.text = None;
                v
            }
            Expr::If(i) => {
                self.eval(&i.test);
                let mut a = self.eval(&i.body);
                let b = self.eval(&i.orelse);
                a.add_origins(&b.origins);
                a
            }
            Expr::BoolOp(b) => {
                let mut out = Val::default();
                for x in &b.values {
                    let v = self.eval(x);
                    if out.text.is_none() && out.name.is_none() {
                        out.text = v.text.clone();
                        out.name = v.name.clone();
                    }
                    out.add_origins(&v.origins);
                }
                out
            }
            Expr::Compare(c) => {
                self.eval(&c.left);
                for x in c.comparators.iter() {
                    self.eval(x);
                }
                Val::default()
            }
            Expr::UnaryOp(u) => {
                let mut v = self.eval(&u.operand);
                v.int = match (u.op, v.int) {
                    (ast::UnaryOp::USub, Some(i)) => i.checked_neg(),
                    (_, i) => i,
                };
                v
            }
            Expr::Await(a) => self.eval(&a.value),
            Expr::Starred(s) => self.eval(&s.value),
            Expr::Named(n) => {
                let v = self.eval(&n.value);
                self.bind(&n.target, v.clone());
                v
            }
            Expr::Yield(y) => y.value.as_ref().map(|v| self.eval(v)).unwrap_or_default(),
            Expr::YieldFrom(y) => self.eval(&y.value),
            _ => Val::default(),
        }
    }

    /// A folded text: classified like a literal but not decoded again.
    fn quiet_literal(&mut self, text: String, offset: usize) -> Val {
        let mut v = Val::text(text, true);
        if self.quiet == 0
            && let Some(t) = v.text.clone()
        {
            self.classify(&t, offset, &mut v);
        }
        v
    }

    /// The whole environment as a source. Only a flow of it into a send counts: honest code
    /// copies the environment for a child process next to its HTTP calls all the time.
    fn environment(&self, offset: usize) -> Origin {
        self.origin(
            Taint::Environment,
            offset,
            "reads the whole environment".into(),
        )
    }

    fn comprehension(
        &mut self,
        elt: &Expr,
        value: Option<&Expr>,
        generators: &[ast::Comprehension],
    ) -> Val {
        self.scopes.push(Scope {
            function: None,
            vars: HashMap::new(),
        });
        let mut out = Val::default();
        let mut constant_items: Option<(Vec<Val>, &Expr)> = None;
        for (i, g) in generators.iter().enumerate() {
            let iter = self.eval(&g.iter);
            out.add_origins(&iter.origins);
            let mut item = iter.items.first().cloned().unwrap_or_default();
            item.add_origins(&iter.origins);
            self.bind(&g.target, item);
            for cond in &g.ifs {
                self.eval(cond);
            }
            if i == 0 && generators.len() == 1 && !iter.items.is_empty() {
                constant_items = Some((iter.items, &g.target));
            }
        }
        let first = self.eval(elt);
        out.add_origins(&first.origins);
        if let Some(v) = value {
            let v = self.eval(v);
            out.add_origins(&v.origins);
        }
        // `chr(c - 3) for c in [...]`: each element evaluated, so the joined text folds.
        if let Some((items, target)) = constant_items
            && items.len() <= MAX_ITEMS
            && value.is_none()
        {
            self.quiet += 1;
            let mut elems = Vec::with_capacity(items.len());
            for it in items {
                self.bind(target, it);
                elems.push(self.eval(elt));
            }
            self.quiet -= 1;
            out.items = elems;
        }
        self.scopes.pop();
        out
    }

    fn subscript(&mut self, s: &ast::ExprSubscript) -> Val {
        let offset = s.start().to_usize();
        let base = self.eval(&s.value);
        if let Expr::Slice(sl) = &*s.slice {
            let step = sl.step.as_ref().map(|x| self.eval(x));
            if sl.lower.is_none()
                && sl.upper.is_none()
                && step.as_ref().and_then(|v| v.int) == Some(-1)
            {
                let mut v = match &base.text {
                    Some(t) => self.quiet_literal(t.chars().rev().collect(), offset),
                    None => Val::default(),
                };
                if let Some(t) = v.text.clone()
                    && let Some(o) = self.encoded_code(&t, offset, "a reversed encoded literal")
                {
                    v.add_origins(&[o]);
                }
                v.add_origins(&base.origins);
                return v;
            }
            let mut v = Val::default();
            v.add_origins(&base.origins);
            return v;
        }
        let key = self.eval(&s.slice);
        let mut v = Val::default();
        v.add_origins(&base.origins);
        if let (Some(i), false) = (key.int, base.items.is_empty())
            && let Some(item) = usize::try_from(i).ok().and_then(|i| base.items.get(i))
        {
            let mut item = item.clone();
            item.add_origins(&base.origins);
            return item;
        }
        let Some(k) = key.text else {
            return v;
        };
        match base.name.as_deref() {
            Some(
                "globals()"
                | "locals()"
                | "vars()"
                | "__builtins__"
                | "builtins"
                | "__builtins__.__dict__"
                | "builtins.__dict__",
            ) => {
                v.name = Some(k.clone());
                self.hidden(&k, key.computed, offset);
            }
            Some("sys.modules") => {
                v.name = Some(k.clone());
                self.hidden(&k, key.computed, offset);
            }
            _ => {}
        }
        v
    }

    /// A sensitive name reached through a string built at run time.
    fn hidden(&mut self, name: &str, computed: bool, offset: usize) {
        if computed && sensitive(name) {
            self.fact(
                Behaviour::HidesName,
                offset,
                format!("resolves {name} from a name built at run time"),
                Vec::new(),
            );
        }
    }

    fn call(&mut self, c: &ast::ExprCall) -> Val {
        let offset = c.start().to_usize();
        let func = self.eval(&c.func);
        let args: Vec<Val> = c.arguments.args.iter().map(|a| self.eval(a)).collect();
        let mut kwargs: Vec<(Option<String>, Val)> = Vec::new();
        for k in c.arguments.keywords.iter() {
            let v = self.eval(&k.value);
            kwargs.push((k.arg.as_ref().map(|a| a.as_str().to_string()), v));
        }
        let kw = |n: &str| {
            kwargs
                .iter()
                .find(|(k, _)| k.as_deref() == Some(n))
                .map(|(_, v)| v)
        };
        let name = func.name.clone().unwrap_or_default();
        let method = match &*c.func {
            Expr::Attribute(a) => a.attr.as_str().to_string(),
            _ => last(&name).to_string(),
        };
        let receiver = func.receiver.as_deref().cloned();
        let mut given: Vec<Origin> = Vec::new();
        for v in args.iter().chain(kwargs.iter().map(|(_, v)| v)) {
            for o in &v.origins {
                if !given.contains(o) {
                    given.push(o.clone());
                }
            }
        }
        let mut out = Val::default();
        out.add_origins(&func.origins);
        out.add_origins(&given);
        if self.scopes.len() == 1 && self.returns.contains_key(&name) {
            self.called_at_top.insert(name.clone());
        }
        if let Some(ret) = self.returns.get(&name) {
            let ret = ret.clone();
            out.add_origins(&ret);
        }
        let arg_text = |i: usize| args.get(i).and_then(|a| a.text.clone());

        // Folding of the string functions obfuscators use.
        match name.as_str() {
            "chr" => {
                if let Some(ch) = args
                    .first()
                    .and_then(|a| a.int)
                    .and_then(|i| u32::try_from(i).ok())
                    .and_then(char::from_u32)
                {
                    out.text = Some(ch.to_string());
                    out.computed = true;
                }
                return out;
            }
            "ord" => {
                out.int = arg_text(0).and_then(|t| t.chars().next()).map(|c| c as i64);
                return out;
            }
            "bytes" | "bytearray" | "str" if args.first().is_some_and(|a| !a.items.is_empty()) => {
                let bytes: Option<Vec<u8>> = args[0]
                    .items
                    .iter()
                    .map(|i| i.int.and_then(|x| u8::try_from(x).ok()))
                    .collect();
                if let Some(b) = bytes {
                    let text = String::from_utf8_lossy(&b).into_owned();
                    let mut v = self.quiet_literal(text, offset);
                    v.add_origins(&out.origins);
                    return v;
                }
            }
            "dict" | "json.dumps" | "str" | "repr" | "list" | "pickle.dumps"
            | "base64.b64encode"
                if args.first().and_then(|a| a.name.as_deref()) == Some("os.environ") =>
            {
                out.add_origins(&[self.environment(offset)]);
            }
            "os.path.join" | "posixpath.join" | "ntpath.join" => {
                let parts: Vec<String> = args
                    .iter()
                    .map(|a| a.text.clone().unwrap_or_else(|| "*".into()))
                    .collect();
                let mut v = self.quiet_literal(parts.join("/"), offset);
                v.add_origins(&out.origins);
                return v;
            }
            "os.path.expanduser" | "os.path.expandvars" | "os.path.abspath" | "pathlib.Path"
            | "Path" | "os.fsencode" | "os.fsdecode" => {
                out.text = arg_text(0);
                out.computed = args.first().is_some_and(|a| a.computed);
                out.name = Some("pathlib.Path()".into());
                return out;
            }
            _ => {}
        }
        if let Some(recv) = &receiver {
            match method.as_str() {
                "join" if recv.text.is_some() => {
                    let items = &args.first().map(|a| a.items.clone()).unwrap_or_default();
                    let parts: Option<Vec<String>> = items.iter().map(|i| i.text.clone()).collect();
                    if let (Some(sep), Some(parts)) = (&recv.text, parts)
                        && !items.is_empty()
                    {
                        let mut v = self.quiet_literal(parts.join(sep), offset);
                        v.add_origins(&out.origins);
                        return v;
                    }
                }
                "replace" if recv.text.is_some() => {
                    if let (Some(t), Some(a), Some(b)) = (&recv.text, arg_text(0), arg_text(1))
                        && !a.is_empty()
                    {
                        let mut v = self.quiet_literal(t.replace(&a, &b), offset);
                        v.add_origins(&out.origins);
                        return v;
                    }
                }
                "decode" | "encode" | "strip" | "rstrip" | "lstrip" if recv.text.is_some() => {
                    let mut v = (*recv).clone();
                    v.receiver = None;
                    v.add_origins(&out.origins);
                    return v;
                }
                "copy" | "items" | "keys" | "values"
                    if recv.name.as_deref() == Some("os.environ") =>
                {
                    out.add_origins(&[self.environment(offset)]);
                    return out;
                }
                _ => {}
            }
        }

        // Decoders: the value is decoded here, and decoded code is analysed again.
        let decoder: Option<Decoder> = match name.as_str() {
            "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.urlsafe_b64decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "binascii.a2b_base64" => Some(decode::base64),
            "base64.b32decode" => Some(decode::base32),
            "base64.b16decode" | "binascii.unhexlify" | "binascii.a2b_hex" | "bytes.fromhex"
            | "bytearray.fromhex" => Some(decode::hex),
            "zlib.decompress" | "gzip.decompress" => Some(decode::inflate),
            "codecs.decode" => match arg_text(1)
                .as_deref()
                .or(kw("encoding").and_then(|k| k.text.as_deref()))
            {
                Some("hex" | "hex_codec") => Some(decode::hex),
                Some("base64" | "base64_codec" | "base_64") => Some(decode::base64),
                Some("zlib" | "zlib_codec" | "zip") => Some(decode::inflate),
                Some("rot13" | "rot_13") => Some(rot13),
                _ => None,
            },
            "lzma.decompress" | "bz2.decompress" | "marshal.loads" => Some(|_| None),
            _ => None,
        };
        if let Some(decode_fn) = decoder {
            let input = args.first().and_then(|a| a.text.clone());
            let bytes = input.and_then(|t| decode_fn(t.as_bytes()).map(decode::maybe_inflate));
            let mut v = match bytes {
                Some(b) => self.decoded(b, offset, &name),
                None => {
                    let mut v = Val {
                        computed: true,
                        ..Val::default()
                    };
                    v.add_origins(&[self.origin(
                        Taint::Decoded,
                        offset,
                        format!("decodes with {name}"),
                    )]);
                    v
                }
            };
            v.add_origins(&out.origins);
            return v;
        }

        // Names reached at run time.
        match name.as_str() {
            "__import__" | "importlib.import_module" | "importlib.__import__" => {
                if let Some(a) = args.first()
                    && let Some(t) = &a.text
                {
                    out.name = Some(t.clone());
                    self.hidden(t, a.computed, offset);
                }
                return out;
            }
            "getattr" => {
                if let (Some(base), Some(attr)) = (args.first(), args.get(1))
                    && let Some(a) = &attr.text
                {
                    let resolved = match base.name.as_deref() {
                        Some("__builtins__" | "builtins") | None => a.clone(),
                        Some(b) => format!("{b}.{a}"),
                    };
                    self.hidden(&resolved, attr.computed, offset);
                    out.name = Some(resolved);
                }
                return out;
            }
            "globals" | "locals" | "vars" if args.is_empty() => {
                out.name = Some(format!("{name}()"));
                return out;
            }
            "vars" => {
                if let Some(b) = args.first().and_then(|a| a.name.clone()) {
                    out.name = Some(format!("{b}.__dict__"));
                }
                return out;
            }
            _ => {}
        }

        // Files: opened for writing, read as data.
        if matches!(name.as_str(), "open" | "io.open" | "codecs.open")
            || method == "open"
                && receiver
                    .as_ref()
                    .is_some_and(|r| r.name.as_deref() == Some("pathlib.Path()"))
        {
            let (path, mode) =
                if method == "open" && name != "open" && name != "io.open" && name != "codecs.open"
                {
                    (receiver.clone().unwrap_or_default(), arg_text(0))
                } else {
                    (
                        args.first().cloned().unwrap_or_default(),
                        arg_text(1).or(kw("mode").and_then(|m| m.text.clone())),
                    )
                };
            let mode = mode.unwrap_or_else(|| "r".into());
            if mode.contains(['w', 'a', 'x']) {
                out.write_to = Some(Box::new(path));
                out.name = Some("open-for-writing".into());
            } else if let Some(p) = &path.text
                && DATA_EXTENSIONS
                    .iter()
                    .any(|e| p.to_ascii_lowercase().ends_with(e))
            {
                out.add_origins(&[self.origin(Taint::DataFile, offset, format!("reads {p}"))]);
            }
            return out;
        }
        if matches!(
            method.as_str(),
            "write" | "write_bytes" | "write_text" | "writelines"
        ) {
            let target = receiver.as_ref().and_then(|r| {
                r.write_to
                    .as_deref()
                    .cloned()
                    .or_else(|| (r.name.as_deref() == Some("pathlib.Path()")).then(|| r.clone()))
            });
            if let Some(target) = target {
                let data = args.first().cloned().unwrap_or_default();
                self.wrote(&target, &data, offset);
            }
            return out;
        }
        if name == "shutil.copy" || name == "shutil.copyfile" || name == "shutil.move" {
            if let (Some(src), Some(dst)) = (args.first(), args.get(1)) {
                self.wrote(dst, src, offset);
            }
            return out;
        }

        // Making files executable.
        if method == "chmod"
            && (name.starts_with("os.")
                || receiver
                    .as_ref()
                    .is_some_and(|r| r.name.as_deref() == Some("pathlib.Path()")))
        {
            let mode = if name.starts_with("os.") {
                args.get(1)
            } else {
                args.first()
            };
            let executable = match mode.and_then(|m| m.int) {
                Some(m) => m & 0o111 != 0,
                None => true,
            };
            if executable {
                let target = if name.starts_with("os.") {
                    args.first()
                } else {
                    receiver.as_ref()
                };
                let path = target
                    .and_then(|t| t.text.clone())
                    .unwrap_or_else(|| "a file".into());
                let from = target.map(|t| t.origins.clone()).unwrap_or_default();
                self.fact(
                    Behaviour::MakesExecutable,
                    offset,
                    format!("makes {path} executable"),
                    from,
                );
            }
            return out;
        }

        // Persistence through the Windows registry.
        if name.starts_with("winreg.") && matches!(method.as_str(), "SetValueEx" | "SetValue") {
            self.fact(
                Behaviour::Persists,
                offset,
                "writes a Windows registry value".into(),
                given.clone(),
            );
            return out;
        }

        // The network.
        if let Some(kind) = network(&name, &method, &args, &kwargs) {
            let url = args
                .first()
                .and_then(|a| a.text.clone())
                .unwrap_or_default();
            let metadata = strings::is_metadata_endpoint(&url);
            let shown = if url.is_empty() {
                String::new()
            } else {
                format!(" {}", truncate(&url, 80))
            };
            match kind {
                Net::Download(what) => {
                    let detail = format!("downloads {what}{shown} with {name}");
                    self.fact(Behaviour::Downloads, offset, detail.clone(), Vec::new());
                    out.add_origins(&[self.origin(Taint::Downloaded, offset, detail)]);
                    if metadata {
                        out.add_origins(&[self.origin(
                            Taint::Credential,
                            offset,
                            "reads instance credentials from the cloud metadata endpoint".into(),
                        )]);
                    }
                    // Data in a query or body goes out too.
                    let sent: Vec<Origin> = kwargs
                        .iter()
                        .filter(|(k, _)| {
                            matches!(k.as_deref(), Some("params" | "data" | "json" | "files"))
                        })
                        .flat_map(|(_, v)| v.origins.clone())
                        .collect();
                    if !sent.is_empty() && !metadata {
                        self.fact(
                            Behaviour::Sends,
                            offset,
                            format!("sends data with {name}"),
                            sent,
                        );
                    }
                    if name.ends_with("urlretrieve")
                        && let Some(dst) = args.get(1)
                    {
                        let data = Val {
                            origins: out.origins.clone(),
                            ..Val::default()
                        };
                        self.wrote(dst, &data, offset);
                    }
                }
                Net::Send(what) => {
                    if !metadata {
                        self.fact(
                            Behaviour::Sends,
                            offset,
                            format!("sends {what}{shown} with {name}"),
                            given.clone(),
                        );
                    }
                    out.add_origins(&[self.origin(
                        Taint::Downloaded,
                        offset,
                        format!("the response of {name}"),
                    )]);
                }
                Net::Object => {
                    out.name = Some(format!("{name}()"));
                }
            }
            return out;
        }

        // Processes.
        if runs_process(&name) {
            let command = args
                .first()
                .and_then(Val::command)
                .or_else(|| kw("args").and_then(Val::command))
                .unwrap_or_default();
            let mut from = given.clone();
            for (path, origin) in &self.written {
                if !path.is_empty() && command.contains(path.as_str()) && !from.contains(origin) {
                    from.push(origin.clone());
                }
            }
            if self.quiet == 0 && !command.is_empty() {
                let mut tmp = Val::default();
                self.classify(&command, offset, &mut tmp);
                out.add_origins(&tmp.origins);
                self.persists_through(&tmp.origins, offset, "in a command");
            }
            self.persists_through(&given, offset, "in a command");
            self.fact(
                Behaviour::RunsProcess,
                offset,
                format!(
                    "runs {} with {name}",
                    if command.is_empty() {
                        "a command".into()
                    } else {
                        format!("`{}`", truncate(&command, 80))
                    }
                ),
                from,
            );
            return out;
        }

        // Dynamic code.
        if runs_code(&name) {
            let code = args.first().cloned().unwrap_or_default();
            let mut from = given.clone();
            if let Some(text) = &code.text
                && (!code.computed || !code.origins.iter().any(|o| o.taint == Taint::Decoded))
            {
                self.nested(&text.clone(), offset);
                // A template with holes shows its code in the source; what it runs is analysed
                // above like any other code.
                if code.computed && !code.partial && looks_like_code(text) {
                    from.push(self.origin(
                        Taint::Decoded,
                        offset,
                        format!("code assembled at run time (`{}`)", truncate(text, 60)),
                    ));
                }
            }
            // Pickles and native libraries are code only when they come from the network
            // or from decoding; loading a model file is what they are for.
            if !matches!(
                name.as_str(),
                "exec" | "eval" | "compile" | "types.FunctionType"
            ) {
                from.retain(|o| matches!(o.taint, Taint::Downloaded | Taint::Decoded));
            }
            self.fact(
                Behaviour::RunsCode,
                offset,
                format!("runs it with {name}"),
                from,
            );
            return out;
        }

        // Calling a local function with tainted arguments: the result carries them.
        if let Some(n) = &func.name {
            out.name = Some(format!("{n}()"));
        }
        out
    }

    /// `data` written to `path`: persistence when the path says so, and a download written to
    /// disk leaves the path holding downloaded content.
    fn wrote(&mut self, path: &Val, data: &Val, offset: usize) {
        let p = path.text.clone().unwrap_or_default();
        let lower = p.to_ascii_lowercase();
        self.persists_through(&path.origins, offset, "written");
        if lower.ends_with(".pth") {
            self.fact(
                Behaviour::Persists,
                offset,
                format!("writes the .pth file {p}, which Python runs at every start"),
                data.origins.clone(),
            );
        }
        if let Some(o) = data.origins.iter().find(|o| o.taint == Taint::Downloaded) {
            let origin = Origin {
                taint: Taint::Downloaded,
                site: o.site.clone(),
                detail: format!(
                    "{} written to {}",
                    o.detail,
                    if p.is_empty() { "a file" } else { &p }
                ),
            };
            if !p.is_empty() {
                self.written.push((p.clone(), origin.clone()));
            }
            if let Some(var) = &path.var {
                let mut v = path.clone();
                v.add_origins(&[origin]);
                if let Some(scope) = self
                    .scopes
                    .iter_mut()
                    .rev()
                    .find(|s| s.vars.contains_key(var))
                {
                    scope.vars.insert(var.clone(), v);
                } else if let Some(scope) = self.scopes.last_mut() {
                    scope.vars.insert(var.clone(), v);
                }
            }
        }
    }
}

/// A decoding step over a literal's bytes.
type Decoder = fn(&[u8]) -> Option<Vec<u8>>;

enum Net {
    Download(&'static str),
    Send(&'static str),
    /// A client object (a session, a connection): its methods are the calls.
    Object,
}

fn network(
    name: &str,
    method: &str,
    args: &[Val],
    kwargs: &[(Option<String>, Val)],
) -> Option<Net> {
    let has_data = kwargs
        .iter()
        .any(|(k, _)| matches!(k.as_deref(), Some("data" | "json" | "body" | "files")));
    let client = [
        "requests",
        "httpx",
        "urllib3",
        "aiohttp",
        "http.client",
        "urllib.request",
        "urllib2",
        "urllib",
        "socket",
        "smtplib",
        "ftplib",
        "dns.resolver",
        "pycurl",
        "wget",
    ]
    .iter()
    .any(|m| is_module(name, m));
    if !client {
        return None;
    }
    match method {
        "Session" | "Client" | "AsyncClient" | "ClientSession" | "PoolManager"
        | "HTTPConnection" | "HTTPSConnection" | "socket" | "create_connection" | "SMTP"
        | "SMTP_SSL" | "FTP" | "Resolver" | "Curl" | "Request" => {
            if method == "Request" && (has_data || args.len() >= 2) {
                return Some(Net::Object);
            }
            Some(Net::Object)
        }
        "post" | "put" | "patch" => Some(Net::Send("data")),
        "send" | "sendall" | "sendto" | "sendmail" | "storbinary" => Some(Net::Send("data")),
        "request"
            if args
                .first()
                .and_then(|a| a.text.as_deref())
                .is_some_and(|m| {
                    m.eq_ignore_ascii_case("POST") || m.eq_ignore_ascii_case("PUT")
                }) =>
        {
            Some(Net::Send("data"))
        }
        "urlopen" if has_data || args.len() >= 2 => Some(Net::Send("data")),
        "urlopen"
            if args.first().is_some_and(|a| {
                !a.origins.is_empty() && a.name.as_deref().is_some_and(|n| n.ends_with("Request()"))
            }) =>
        {
            Some(Net::Send("a request"))
        }
        "get" | "request" | "urlopen" | "urlretrieve" | "stream" | "download" | "recv"
        | "recvfrom" | "read" => Some(Net::Download("content")),
        "resolve" | "query"
            if args.iter().any(|a| {
                a.text
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("TXT"))
            }) =>
        {
            Some(Net::Download("a DNS TXT record"))
        }
        "resolve" | "query" | "gethostbyname" | "getaddrinfo"
            if args.first().is_some_and(|a| !a.origins.is_empty()) =>
        {
            Some(Net::Send("a DNS query carrying data"))
        }
        _ => None,
    }
}

fn runs_process(name: &str) -> bool {
    matches!(
        name,
        "os.system"
            | "os.popen"
            | "os.startfile"
            | "pty.spawn"
            | "os.posix_spawn"
            | "os.posix_spawnp"
            | "asyncio.create_subprocess_shell"
            | "asyncio.create_subprocess_exec"
            | "commands.getoutput"
    ) || (is_module(name, "subprocess")
        && matches!(
            last(name),
            "run"
                | "call"
                | "Popen"
                | "check_call"
                | "check_output"
                | "getoutput"
                | "getstatusoutput"
        ))
        || (name.starts_with("os.exec") || name.starts_with("os.spawn"))
}

fn runs_code(name: &str) -> bool {
    matches!(
        name,
        "exec"
            | "eval"
            | "compile"
            | "types.FunctionType"
            | "runpy.run_path"
            | "runpy.run_module"
            | "pickle.loads"
            | "pickle.load"
            | "dill.loads"
            | "cloudpickle.loads"
            | "ctypes.CDLL"
            | "ctypes.cdll.LoadLibrary"
            | "ctypes.WinDLL"
            | "ctypes.windll.LoadLibrary"
    )
}

fn rot13(data: &[u8]) -> Option<Vec<u8>> {
    Some(
        data.iter()
            .map(|b| match b {
                b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
                b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
                _ => *b,
            })
            .collect(),
    )
}

/// Whether decoded text reads as Python worth analysing (rather than, say, a picture's bytes
/// or prose).
fn looks_like_code(text: &str) -> bool {
    [
        "import ",
        "exec(",
        "eval(",
        "def ",
        "os.",
        "subprocess",
        "socket",
        "__import__",
        "open(",
        "http",
    ]
    .iter()
    .any(|k| text.contains(k))
}

fn floor_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

fn truncate(text: &str, max: usize) -> String {
    let cut = floor_boundary(text, max);
    let one_line: String = text[..cut]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cut < text.len() {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(source: &str) -> Vec<Fact> {
        let mut facts = Facts::default();
        analyse("pkg/m.py", source, When::Import, &mut facts);
        facts.facts
    }

    #[test]
    fn hostile_nesting_and_chains_end_without_exhausting_the_stack() {
        // Run on a thread with the blocking pool's stack, as the scanner runs.
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let deep = format!(
                    "x = {}1{}\nexec(x)\n",
                    "(".repeat(100_000),
                    ")".repeat(100_000)
                );
                let chain = format!("x = {}'a'\nexec(x)\n", "'a' + ".repeat(99_000));
                let blocks = format!(
                    "{}exec(y)\n",
                    (0..300)
                        .map(|i| format!("{}if x:\n", " ".repeat(i)))
                        .collect::<String>()
                );
                let too_deep = format!("x = {}1\n", "1 + ".repeat(200_000));
                for src in [deep, chain, blocks] {
                    facts(&src);
                }
                let mut f = Facts::default();
                assert!(
                    !analyse("pkg/deep.py", &too_deep, When::Import, &mut f),
                    "not parsed"
                );
            })
            .expect("thread");
        assert!(handle.join().is_ok(), "the walk survived");
    }

    #[test]
    fn chr_arithmetic_over_a_named_list_folds_to_the_code_it_runs() {
        let f = facts(
            "_k = [108, 112]\nexec(''.join(chr(c - 3) for c in [108,112,115,114,117,119,35,114,118]))\n",
        );
        assert!(
            f.iter().any(|f| f.behaviour == Behaviour::RunsCode
                && f.from.iter().any(|o| o.taint == Taint::Decoded)),
            "{f:#?}"
        );
    }
}

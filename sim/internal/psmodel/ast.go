package psmodel

// Extent is a span of the script text, as byte offsets [Start, End).
type Extent struct{ Start, End int }

func (e Extent) extent() Extent { return e }

// Node is any element of the syntax tree.
type Node interface{ extent() Extent }

// Stmt is a statement.
type Stmt interface {
	Node
	stmt()
}

// Expr is an expression.
type Expr interface {
	Node
	expr()
}

// ScriptBlock is a parsed script or { } block: an optional param() list
// and its statements.
type ScriptBlock struct {
	Extent
	Params []*Param
	Body   []Stmt
	src    *Source
}

// Param is a parameter of a script block or function.
type Param struct {
	Extent
	Name    string // without $
	Type    string // [string], or ""
	Default Expr
	Switch  bool
}

// Pipeline is a statement of one or more elements joined by |. The first
// element may be an expression; the others are commands.
type Pipeline struct {
	Extent
	Elems []PipeElem
}

// PipeElem is one element of a pipeline.
type PipeElem interface {
	Node
	redirs() []Redir
}

// ExprElem is an expression at the start of a pipeline.
type ExprElem struct {
	Extent
	X      Expr
	Redirs []Redir
}

// Command is a command invocation: a name (or, after & and ., an
// expression) and its arguments.
type Command struct {
	Extent
	// Invoke is '&', '.' or 0.
	Invoke byte
	// Name is the command name as written when it is a bare word or a
	// string constant; NameExpr is set instead when it is computed.
	Name       string
	NameExpr   Expr
	NameExtent Extent
	Args       []*Arg
	Redirs     []Redir
}

// Arg is one command element after the name: a -Parameter, its value,
// or a value alone.
type Arg struct {
	Extent
	Param string // without the dash, "" for a value
	// Value is nil for a switch parameter.
	Value Expr
	// Colon is set for -Param:value.
	Colon bool
	// Raw is the source text of a bare word, for native programs.
	Raw string
}

// Redir is a redirection: From is the stream (1 output, 2 error, 3..6,
// '*' all); To is a file expression, or Merge is set for n>&1.
type Redir struct {
	Extent
	From   byte
	Append bool
	Merge  bool
	To     Expr
}

func (e *ExprElem) redirs() []Redir { return e.Redirs }
func (c *Command) redirs() []Redir  { return c.Redirs }

// AssignStmt is target op value.
type AssignStmt struct {
	Extent
	Target Expr
	Op     string // =, +=, -=, *=, /=, %=
	Value  Stmt
}

// IfStmt is if / elseif / else.
type IfStmt struct {
	Extent
	Conds  []Stmt
	Bodies [][]Stmt
	Else   []Stmt
	HasEls bool
}

// ForeachStmt is foreach ($v in x) { }.
type ForeachStmt struct {
	Extent
	Var  string
	In   Stmt
	Body []Stmt
}

// ForStmt is for (init; cond; iter) { }.
type ForStmt struct {
	Extent
	Init, Cond, Iter Stmt
	Body             []Stmt
}

// WhileStmt is while (cond) { }, and do { } while/until (cond).
type WhileStmt struct {
	Extent
	Cond  Stmt
	Body  []Stmt
	Do    bool
	Until bool
}

// SwitchStmt is switch (x) { value { } default { } }.
type SwitchStmt struct {
	Extent
	Value    Stmt
	Wildcard bool
	Regex    bool
	Cases    []SwitchCase
	Default  []Stmt
	HasDef   bool
}

// SwitchCase is one clause of a switch.
type SwitchCase struct {
	Cond Expr
	Body []Stmt
}

// TryStmt is try { } catch [T] { } finally { }.
type TryStmt struct {
	Extent
	Body    []Stmt
	Catches []Catch
	Finally []Stmt
	HasFin  bool
}

// Catch is one catch clause; no Types catches everything.
type Catch struct {
	Types []string
	Body  []Stmt
}

// FlowStmt is throw, exit, return, break or continue with its optional
// value.
type FlowStmt struct {
	Extent
	Kind  string
	Value Stmt
}

// FunctionDef is function name { } (or filter).
type FunctionDef struct {
	Extent
	Name string
	Body *ScriptBlock
}

// StringLit is a constant string ('...', a bare word, a single-quoted
// here-string).
type StringLit struct {
	Extent
	Value string
	Bare  bool
}

// ExpandString is a "..." string: literal text and expressions.
type ExpandString struct {
	Extent
	Parts []Expr
}

// NumberLit is a number constant.
type NumberLit struct {
	Extent
	Value any
	Text  string
}

// VarExpr is $name; Scope is env, global, script, local or "".
type VarExpr struct {
	Extent
	Scope string
	Name  string
}

// ArrayLit is a, b, c.
type ArrayLit struct {
	Extent
	Elems []Expr
}

// SubExpr is $( ) or @( ).
type SubExpr struct {
	Extent
	Body  []Stmt
	Array bool
}

// ParenExpr is ( pipeline ).
type ParenExpr struct {
	Extent
	Body Stmt
}

// HashLit is @{ k = v }.
type HashLit struct {
	Extent
	Keys   []Expr
	Values []Stmt
}

// BlockExpr is a { } script block literal.
type BlockExpr struct {
	Extent
	Block *ScriptBlock
}

// TypeExpr is [type] used as a value.
type TypeExpr struct {
	Extent
	Name string
}

// CastExpr is [type] x.
type CastExpr struct {
	Extent
	Type string
	X    Expr
}

// UnaryExpr is an operator before an operand: -not ! - + , -split -join
// -bnot ++ --, and x++ / x-- (Post).
type UnaryExpr struct {
	Extent
	Op   string
	X    Expr
	Post bool
}

// BinaryExpr is x op y; Op is lower case without the dash for word
// operators (eq, ieq, ceq, and, ...) or the symbol.
type BinaryExpr struct {
	Extent
	Op   string
	L, R Expr
	// OpExtent is where the operator is written.
	OpExtent Extent
}

// MemberExpr is x.Name or [T]::Name; NameExpr is set for x.$name.
type MemberExpr struct {
	Extent
	X        Expr
	Name     string
	NameExpr Expr
	Static   bool
}

// InvokeExpr is x.Name(args) or [T]::Name(args).
type InvokeExpr struct {
	Extent
	X      Expr
	Name   string
	Args   []Expr
	Static bool
}

// IndexExpr is x[i].
type IndexExpr struct {
	Extent
	X     Expr
	Index Expr
}

func (*Pipeline) stmt()    {}
func (*AssignStmt) stmt()  {}
func (*IfStmt) stmt()      {}
func (*ForeachStmt) stmt() {}
func (*ForStmt) stmt()     {}
func (*WhileStmt) stmt()   {}
func (*SwitchStmt) stmt()  {}
func (*TryStmt) stmt()     {}
func (*FlowStmt) stmt()    {}
func (*FunctionDef) stmt() {}

func (*StringLit) expr()    {}
func (*ExpandString) expr() {}
func (*NumberLit) expr()    {}
func (*VarExpr) expr()      {}
func (*ArrayLit) expr()     {}
func (*SubExpr) expr()      {}
func (*ParenExpr) expr()    {}
func (*HashLit) expr()      {}
func (*BlockExpr) expr()    {}
func (*TypeExpr) expr()     {}
func (*CastExpr) expr()     {}
func (*UnaryExpr) expr()    {}
func (*BinaryExpr) expr()   {}
func (*MemberExpr) expr()   {}
func (*InvokeExpr) expr()   {}
func (*IndexExpr) expr()    {}

#!/usr/bin/env node
// pscheck parses PowerShell texts with the tree-sitter PowerShell grammar
// (web-tree-sitter and tree-sitter-powershell's WASM build, no native code)
// and reports every ERROR or MISSING node with its position.
//
// Input on stdin: a JSON array whose items are either strings (the texts) or
// objects {"name": "...", "text": "..."}.
// Output on stdout: a JSON array with one object per input text:
//   {"name": "...", "problems": [{"kind": "ERROR"|"MISSING", "type": "...",
//     "row": 1, "column": 1, "snippet": "..."}]}
// Rows and columns are one-based; columns count UTF-8 bytes, as tree-sitter
// does.
//
// Exit status: 0 when every text parsed cleanly, 1 when at least one text
// has a problem, 2 when the input or the grammar could not be read.
'use strict';

// TurboFan needs tens of CPU seconds to optimise the grammar's huge lexer
// function and node waits for it before exiting; the baseline compiler
// (Liftoff) parses these small texts just as well. Set before any WASM is
// compiled.
require('node:v8').setFlagsFromString('--liftoff-only');

const fs = require('node:fs');
const path = require('node:path');
const { Parser, Language } = require('web-tree-sitter');

function grammarPath() {
  // The grammar package ships its WASM build at its top level.
  const pkg = require.resolve('tree-sitter-powershell/package.json');
  return path.join(path.dirname(pkg), 'tree-sitter-powershell.wasm');
}

function problemsOf(tree, text) {
  const problems = [];
  const cursor = tree.walk();
  // Depth-first walk over every node, named or not: MISSING nodes are often
  // anonymous tokens (a closing brace the parser had to invent).
  let done = false;
  while (!done) {
    const node = cursor.currentNode;
    if (node.isError || node.isMissing) {
      const start = node.startPosition;
      problems.push({
        kind: node.isMissing ? 'MISSING' : 'ERROR',
        type: node.type,
        row: start.row + 1,
        column: start.column + 1,
        snippet: Buffer.from(text, 'utf8')
          .subarray(node.startIndex, Math.min(node.endIndex, node.startIndex + 60))
          .toString('utf8'),
      });
    }
    if (cursor.gotoFirstChild()) continue;
    while (!cursor.gotoNextSibling()) {
      if (!cursor.gotoParent()) {
        done = true;
        break;
      }
    }
  }
  return problems;
}

async function main() {
  let input;
  try {
    input = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (err) {
    process.stderr.write(`pscheck: read stdin: ${err.message}\n`);
    return 2;
  }
  if (!Array.isArray(input)) {
    process.stderr.write('pscheck: stdin must be a JSON array of strings or {name, text} objects\n');
    return 2;
  }
  await Parser.init();
  const language = await Language.load(grammarPath());
  const parser = new Parser();
  parser.setLanguage(language);

  const results = [];
  let failed = false;
  input.forEach((item, i) => {
    const name = typeof item === 'string' ? `text[${i}]` : String(item.name ?? `text[${i}]`);
    const text = typeof item === 'string' ? item : String(item.text ?? '');
    const tree = parser.parse(text);
    const problems = problemsOf(tree, text);
    tree.delete();
    if (problems.length > 0) failed = true;
    results.push({ name, problems });
  });
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  return failed ? 1 : 0;
}

// process.exit rather than process.exitCode: V8 keeps compiling the
// grammar's WASM in the background (tiering up), which otherwise delays the
// exit by up to a minute on a busy machine. Writes to a pipe or file are
// synchronous in Node on Linux, so nothing written is lost.
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`pscheck: ${err.stack || err}\n`);
    process.exit(2);
  },
);

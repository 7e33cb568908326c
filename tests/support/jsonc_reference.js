// The reference for the merge: Microsoft's jsonc-parser, as OpenCode 1.18.33 calls it.
// Long-lived: one JSON request per line on stdin, one JSON answer per line on stdout.
//
// Request: {"text": ..., "path": ["provider", "omniroute"], "value": {...}, "schema": "https://..."}
//          or {"tokens": text} for the scanner's tokens of a text.
// Answer:  {"errors": [[code, offset], ...], "value": ..., "structure": {...}, "modified": {...}}
"use strict";

const readline = require("readline");
const jsonc = require(process.argv[2]);

// What OpenCode passes (ConfigParse.jsonc in the 1.18.33 binary): comments allowed by default.
const OPTIONS = { allowTrailingComma: true };
const NONFINITE = "\u0000nonfinite";

function parse(text) {
  const errors = [];
  const value = jsonc.parse(text, errors, OPTIONS);
  return { errors: errors.map((e) => [jsonc.printParseErrorCode(e.error), e.offset]), value };
}

// How many times the managed keys are written, and the kinds of their values.
function structure(text, path) {
  const root = jsonc.parseTree(text, [], OPTIONS);
  const result = { root: root ? root.type : null, counts: [], kinds: [] };
  let node = root;
  for (const key of path) {
    if (!node || node.type !== "object") break;
    // On invalid input a property may lack its value; counts and kinds matter only on valid input.
    const members = node.children.filter((p) => p.children && p.children[0].value === key);
    result.counts.push(members.length);
    if (!members.length) break;
    node = members[members.length - 1].children[1];
    result.kinds.push(node ? node.type : null);
  }
  return result;
}

// jsonc-parser's own merge: modify + applyEdits, then $schema when the result lacks it.
function modified(text, path, value, schema) {
  const formattingOptions = { insertSpaces: true, tabSize: 2 };
  try {
    let out = jsonc.applyEdits(text, jsonc.modify(text, path, value, { formattingOptions }));
    const parsed = parse(out);
    if (parsed.value && typeof parsed.value === "object" && !Object.prototype.hasOwnProperty.call(parsed.value, "$schema")) {
      out = jsonc.applyEdits(out, jsonc.modify(out, ["$schema"], schema, { formattingOptions }));
    }
    const result = parse(out);
    return { text: out, errors: result.errors, value: result.value };
  } catch (error) {
    return { threw: String(error.message) };
  }
}

function tokens(text) {
  const scanner = jsonc.createScanner(text, false);
  const out = [];
  for (let kind = scanner.scan(); kind !== 17 /* EOF */; kind = scanner.scan()) {
    out.push([kind, scanner.getTokenOffset(), scanner.getTokenLength()]);
  }
  return out;
}

function encode(answer) {
  // Infinity (from 1e400) and NaN have no JSON form: tag them.
  return JSON.stringify(answer, (key, v) => (typeof v === "number" && !Number.isFinite(v) ? { [NONFINITE]: String(v) } : v));
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const request = JSON.parse(line);
  let answer;
  try {
    answer = handle(request);
  } catch (error) {
    answer = { crashed: String(error && error.stack) };
  }
  process.stdout.write(encode(answer) + "\n");
});

function handle(request) {
  let answer;
  if (request.tokens !== undefined) {
    answer = { tokens: tokens(request.tokens) };
  } else {
    answer = parse(request.text);
    answer.structure = structure(request.text, request.path);
    if (request.value !== undefined) answer.modified = modified(request.text, request.path, request.value, request.schema);
  }
  return answer;
}

#!/usr/bin/env -S node --max-semi-space-size=16
// --max-semi-space-size=16: V8's young generation otherwise grows to 64 MiB semi-spaces under load
// (Node 24's default), most of a busy gateway's RSS, for no CPU we could measure (README, Benchmark).
// V8 takes the flag only at start, so it is here, in `npm start` and in the Dockerfile.
import { runCli } from './cli.js'

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
if (code !== 0) process.exit(code)

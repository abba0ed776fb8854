#!/usr/bin/env node
import { runCli } from './cli.js'

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
if (code !== 0) process.exit(code)

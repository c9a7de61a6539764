#!/usr/bin/env node
import './run-cli.ts'

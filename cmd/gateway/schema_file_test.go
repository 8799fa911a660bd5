package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// schema.graphql at the repository root is what frontends commit and feed
// to graphql-codegen: it must be the schema the gateway serves. After a
// change to graph/*.graphqls, refresh it with
//
//	go run ./cmd/gateway -print-schema > schema.graphql
func TestCommittedSchemaIsCurrent(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-print-schema"}, envOf(nil), &out, io.Discard); code != 0 {
		t.Fatalf("-print-schema exited %d", code)
	}
	printed := out.String()
	for _, want := range []string{"type Query {", "scalar Money @specifiedBy(url: ", "scalar Upload @specifiedBy(url: "} {
		if !strings.Contains(printed, want) {
			t.Fatalf("-print-schema output lacks %q", want)
		}
	}
	committed, err := os.ReadFile("../../schema.graphql")
	if err != nil {
		t.Fatalf("schema.graphql: %v (create it: go run ./cmd/gateway -print-schema > schema.graphql)", err)
	}
	if string(committed) != printed {
		t.Fatal("schema.graphql is not the served schema: go run ./cmd/gateway -print-schema > schema.graphql")
	}
}

// Every custom scalar says where its format is specified (@specifiedBy),
// so generated clients and readers know how each one serializes.
func TestEveryCustomScalarIsSpecified(t *testing.T) {
	var out bytes.Buffer
	run(context.Background(), []string{"-print-schema"}, envOf(nil), &out, io.Discard)
	scalars := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "scalar ") {
			continue
		}
		scalars++
		if !strings.Contains(line, "@specifiedBy(url: \"https://") {
			t.Errorf("%s: no @specifiedBy", line)
		}
	}
	if scalars < 6 {
		t.Fatalf("found %d custom scalars, want Money, Decimal, Date, DateTime, JSON and Upload", scalars)
	}
}

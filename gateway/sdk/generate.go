package sdk

// The public document (the one the gateway serves), then the client from it.
//go:generate go run fanout/gateway/publicdoc -o openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml openapi.yaml

"""The wire contract shared by clients and servers: protobuf messages, Flight SQL packing, TLS and credentials."""

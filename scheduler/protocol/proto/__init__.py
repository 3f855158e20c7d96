"""The scheduler's protobuf protocols and their generated modules: ``jobs.proto`` (the control
API, ``scheduler.service.control``) and ``flight_sql.proto`` (the Flight SQL commands)."""

-- One database per service (DESIGN.md, "Data"). The postgres image runs this once, on an empty
-- data volume (compose.yaml); the services' tables are then created by their migrations.
CREATE DATABASE enrollment;
CREATE DATABASE claims;
CREATE DATABASE payments;
CREATE DATABASE notify;

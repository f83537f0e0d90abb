-- The portal's own database beside the IdP's (POSTGRES_DB); the portal never reads the IdP's.
CREATE DATABASE kenpo_portal OWNER kenpo;

-- The reference VOPI schema (sql/vopi_reference.sql) as a VOPI of the 2000s keeps it on
-- MariaDB (>= 10.6) or MySQL (>= 8.0): InnoDB, AUTO_INCREMENT ids, DATETIME without a zone
-- (VOPI's wall clock, [source] timezone) and a single-byte Central European character set
-- (latin2; cp1250 works the same). OBVO reads it through [source] url = "mysql+pymysql://…"
-- with the queries of docs/engines.md, never changes it. Used by the tests; load it into an
-- empty database: `mariadb vopi < sql/vopi_reference_mariadb.sql`.

CREATE TABLE parties (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    tax_number VARCHAR(20) UNIQUE
) ENGINE = InnoDB DEFAULT CHARSET = latin2;

CREATE TABLE applications (
    id                  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    case_number         VARCHAR(64) NOT NULL UNIQUE,   -- e.g. 354-12/2026
    subject             VARCHAR(500) NOT NULL,
    received_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    clerk_name          VARCHAR(200),
    classification_code VARCHAR(20)
) ENGINE = InnoDB DEFAULT CHARSET = latin2;

CREATE TABLE application_parties (
    application_id BIGINT NOT NULL,
    party_id       BIGINT NOT NULL,
    role           VARCHAR(20) NOT NULL DEFAULT 'vlagatelj',
    PRIMARY KEY (application_id, party_id, role),
    FOREIGN KEY (application_id) REFERENCES applications (id),
    FOREIGN KEY (party_id) REFERENCES parties (id)
) ENGINE = InnoDB DEFAULT CHARSET = latin2;

CREATE TABLE event_types (
    code VARCHAR(16) NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = latin2;

CREATE TABLE event_log (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_type_code VARCHAR(16) NOT NULL,
    application_id  BIGINT NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    clerk_name      VARCHAR(200),
    detail          TEXT,
    FOREIGN KEY (event_type_code) REFERENCES event_types (code),
    FOREIGN KEY (application_id) REFERENCES applications (id)
) ENGINE = InnoDB DEFAULT CHARSET = latin2;

INSERT INTO event_types (code, name) VALUES
    ('VLOZ',   'Vloga je vložena'),
    ('KLAS',   'Vloga je dobila klasifikacijsko oznako'),
    ('DODELJ', 'Vloga je dodeljena referentu'),
    ('DOPOL',  'Poziv k dopolnitvi vloge'),
    ('ODLOC',  'Izdana je odločba'),
    ('ARHIV',  'Zadeva je arhivirana'),
    ('OGLED',  'Notranji pregled spisa');

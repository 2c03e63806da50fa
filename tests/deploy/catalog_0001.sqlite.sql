-- The catalog's schema before migrations existed (Vestige 23002b6), as sqlite DDL.
-- A catalog in this shape is at revision 0001; `vestige migrate` upgrades it.

CREATE TABLE records (
	id INTEGER NOT NULL, 
	record_id VARCHAR(100) NOT NULL, 
	record_type VARCHAR(20) NOT NULL, 
	url VARCHAR(4096), 
	surt VARCHAR(4096), 
	timestamp DATETIME NOT NULL, 
	status INTEGER, 
	mime VARCHAR(200), 
	payload_digest VARCHAR(100), 
	refers_to VARCHAR(100), 
	collection VARCHAR(200) NOT NULL, 
	warc_file VARCHAR(500) NOT NULL, 
	"offset" BIGINT NOT NULL, 
	length BIGINT NOT NULL, 
	capture_id VARCHAR(40), 
	PRIMARY KEY (id), 
	UNIQUE (record_id)
);

CREATE INDEX ix_records_url ON records (url);

CREATE INDEX ix_records_payload_digest ON records (payload_digest);

CREATE INDEX ix_records_surt_timestamp ON records (surt, timestamp);

CREATE INDEX ix_records_warc_file_offset ON records (warc_file, "offset");

CREATE INDEX ix_records_capture_id ON records (capture_id);

CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created DATETIME NOT NULL, 
	last_used DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (token_hash)
);

CREATE TABLE jobs (
	id VARCHAR(32) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	note TEXT, 
	truncate BOOLEAN NOT NULL, 
	submitted_by VARCHAR(100), 
	created DATETIME NOT NULL, 
	started DATETIME, 
	finished DATETIME, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_state ON jobs (state);

CREATE TABLE crawls (
	id VARCHAR(32) NOT NULL, 
	"key" VARCHAR(64) NOT NULL, 
	seeds TEXT NOT NULL, 
	options TEXT NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	follow_id INTEGER, 
	created DATETIME NOT NULL, 
	started DATETIME, 
	finished DATETIME, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_crawls_follow_id ON crawls (follow_id);

CREATE INDEX ix_crawls_state ON crawls (state);

CREATE INDEX ix_crawls_key ON crawls ("key");

CREATE TABLE crawl_urls (
	id INTEGER NOT NULL, 
	crawl_id VARCHAR(32) NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	path_key VARCHAR(16) NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	depth INTEGER NOT NULL, 
	state VARCHAR(10) NOT NULL, 
	reason TEXT, 
	discovered_from VARCHAR(4096), 
	attempts INTEGER NOT NULL, 
	not_before FLOAT, 
	status INTEGER, 
	final_url VARCHAR(4096), 
	capture_id VARCHAR(40), 
	captured DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_crawl_urls_crawl_url UNIQUE (crawl_id, url)
);

CREATE INDEX ix_crawl_urls_path ON crawl_urls (crawl_id, path_key);

CREATE INDEX ix_crawl_urls_next ON crawl_urls (crawl_id, state, depth, id);

CREATE TABLE follows (
	id INTEGER NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	every INTEGER NOT NULL, 
	sitemaps BOOLEAN NOT NULL, 
	ignore_robots BOOLEAN NOT NULL, 
	note TEXT, 
	created DATETIME NOT NULL, 
	last_run DATETIME, 
	next_run DATETIME NOT NULL, 
	last_crawl_id VARCHAR(32), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_follows_url_collection UNIQUE (url, collection)
);

CREATE INDEX ix_follows_next_run ON follows (next_run);

CREATE TABLE documents (
	id VARCHAR(16) NOT NULL, 
	record_id VARCHAR(100) NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	captured DATETIME NOT NULL, 
	status INTEGER, 
	mime VARCHAR(200), 
	title TEXT, 
	authors JSON NOT NULL, 
	published VARCHAR(40), 
	site VARCHAR(500), 
	description TEXT, 
	tags JSON NOT NULL, 
	language VARCHAR(8), 
	languages JSON NOT NULL, 
	script VARCHAR(8), 
	text TEXT NOT NULL, 
	text_simplified TEXT, 
	word_count INTEGER NOT NULL, 
	outlinks JSON NOT NULL, 
	extraction VARCHAR(20) NOT NULL, 
	content_hash VARCHAR(40) NOT NULL, 
	warc_file VARCHAR(500) NOT NULL, 
	warc_offset BIGINT NOT NULL, 
	warc_length BIGINT NOT NULL, 
	payload_digest VARCHAR(100), 
	revisit_of VARCHAR(100), 
	seq BIGINT NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (record_id)
);

CREATE UNIQUE INDEX ix_documents_seq ON documents (seq);

CREATE INDEX ix_documents_url_captured_id ON documents (url, captured, id);

CREATE INDEX ix_documents_content_hash ON documents (content_hash);

CREATE INDEX ix_documents_url ON documents (url);

CREATE INDEX ix_documents_collection ON documents (collection);

CREATE TABLE ingest_outcomes (
	record_id VARCHAR(100) NOT NULL, 
	outcome VARCHAR(10) NOT NULL, 
	reason VARCHAR(40) NOT NULL, 
	detail TEXT, 
	attempts INTEGER NOT NULL, 
	updated DATETIME NOT NULL, 
	PRIMARY KEY (record_id)
);

CREATE INDEX ix_ingest_outcomes_outcome ON ingest_outcomes (outcome);

CREATE TABLE document_sequence (
	id INTEGER NOT NULL, 
	value BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE relations (
	id INTEGER NOT NULL, 
	source_id VARCHAR(16) NOT NULL, 
	type VARCHAR(20) NOT NULL, 
	target_id VARCHAR(16) NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	note TEXT, 
	evidence JSON NOT NULL, 
	made_by VARCHAR(200) NOT NULL, 
	made_at DATETIME NOT NULL, 
	reviewed_by VARCHAR(200), 
	reviewed_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_relations_source_type_target UNIQUE (source_id, type, target_id)
);

CREATE INDEX ix_relations_source_id ON relations (source_id);

CREATE INDEX ix_relations_target_id ON relations (target_id);

CREATE INDEX ix_relations_status ON relations (status);

CREATE TABLE watches (
	id INTEGER NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	every INTEGER NOT NULL, 
	note TEXT, 
	created DATETIME NOT NULL, 
	next_due DATETIME NOT NULL, 
	lease_until DATETIME, 
	last_run DATETIME, 
	last_kind VARCHAR(12), 
	last_document_id VARCHAR(16), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_watches_url_collection UNIQUE (url, collection)
);

CREATE INDEX ix_watches_next_due ON watches (next_due);

CREATE TABLE page_changes (
	id INTEGER NOT NULL, 
	watch_id INTEGER, 
	url VARCHAR(4096) NOT NULL, 
	detected DATETIME NOT NULL, 
	kind VARCHAR(12) NOT NULL, 
	reason VARCHAR(200), 
	status INTEGER, 
	final_url VARCHAR(4096), 
	capture_id VARCHAR(40), 
	document_id VARCHAR(16), 
	previous_id VARCHAR(16), 
	similarity FLOAT, 
	evidence JSON NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_page_changes_watch_id ON page_changes (watch_id);

CREATE INDEX ix_page_changes_detected ON page_changes (detected);

CREATE INDEX ix_page_changes_kind ON page_changes (kind);

CREATE INDEX ix_page_changes_url ON page_changes (url);

CREATE TABLE job_items (
	id INTEGER NOT NULL, 
	job_id VARCHAR(32) NOT NULL, 
	position INTEGER NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	status INTEGER, 
	final_url VARCHAR(4096), 
	warc_file VARCHAR(500), 
	"offset" BIGINT, 
	payload_digest VARCHAR(100), 
	revisit BOOLEAN NOT NULL, 
	truncated BOOLEAN NOT NULL, 
	capture_id VARCHAR(40), 
	captured_at DATETIME, 
	error TEXT, 
	after_store_error TEXT, 
	finished DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_job_items_state ON job_items (state);

CREATE INDEX ix_job_items_job_id ON job_items (job_id);

-- The catalog's schema before migrations existed (Vestige 23002b6), as postgresql DDL.
-- A catalog in this shape is at revision 0001; `vestige migrate` upgrades it.

CREATE TABLE records (
	id SERIAL NOT NULL, 
	record_id VARCHAR(100) NOT NULL, 
	record_type VARCHAR(20) NOT NULL, 
	url VARCHAR(4096), 
	surt VARCHAR(4096), 
	timestamp TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
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
	id SERIAL NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	last_used TIMESTAMP WITHOUT TIME ZONE, 
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
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	started TIMESTAMP WITHOUT TIME ZONE, 
	finished TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_state ON jobs (state);

CREATE TABLE crawls (
	id VARCHAR(32) NOT NULL, 
	key VARCHAR(64) NOT NULL, 
	seeds TEXT NOT NULL, 
	options TEXT NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	follow_id INTEGER, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	started TIMESTAMP WITHOUT TIME ZONE, 
	finished TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_crawls_follow_id ON crawls (follow_id);

CREATE INDEX ix_crawls_state ON crawls (state);

CREATE INDEX ix_crawls_key ON crawls (key);

CREATE TABLE crawl_urls (
	id SERIAL NOT NULL, 
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
	captured TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_crawl_urls_crawl_url UNIQUE (crawl_id, url)
);

CREATE INDEX ix_crawl_urls_path ON crawl_urls (crawl_id, path_key);

CREATE INDEX ix_crawl_urls_next ON crawl_urls (crawl_id, state, depth, id);

CREATE TABLE follows (
	id SERIAL NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	every INTEGER NOT NULL, 
	sitemaps BOOLEAN NOT NULL, 
	ignore_robots BOOLEAN NOT NULL, 
	note TEXT, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	last_run TIMESTAMP WITHOUT TIME ZONE, 
	next_run TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
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
	captured TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
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
	updated TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	PRIMARY KEY (record_id)
);

CREATE INDEX ix_ingest_outcomes_outcome ON ingest_outcomes (outcome);

CREATE TABLE document_sequence (
	id SERIAL NOT NULL, 
	value BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE relations (
	id SERIAL NOT NULL, 
	source_id VARCHAR(16) NOT NULL, 
	type VARCHAR(20) NOT NULL, 
	target_id VARCHAR(16) NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	note TEXT, 
	evidence JSON NOT NULL, 
	made_by VARCHAR(200) NOT NULL, 
	made_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	reviewed_by VARCHAR(200), 
	reviewed_at TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_relations_source_type_target UNIQUE (source_id, type, target_id)
);

CREATE INDEX ix_relations_source_id ON relations (source_id);

CREATE INDEX ix_relations_target_id ON relations (target_id);

CREATE INDEX ix_relations_status ON relations (status);

CREATE TABLE watches (
	id SERIAL NOT NULL, 
	url VARCHAR(4096) NOT NULL, 
	collection VARCHAR(200) NOT NULL, 
	every INTEGER NOT NULL, 
	note TEXT, 
	created TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	next_due TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lease_until TIMESTAMP WITHOUT TIME ZONE, 
	last_run TIMESTAMP WITHOUT TIME ZONE, 
	last_kind VARCHAR(12), 
	last_document_id VARCHAR(16), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_watches_url_collection UNIQUE (url, collection)
);

CREATE INDEX ix_watches_next_due ON watches (next_due);

CREATE TABLE page_changes (
	id SERIAL NOT NULL, 
	watch_id INTEGER, 
	url VARCHAR(4096) NOT NULL, 
	detected TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
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
	id SERIAL NOT NULL, 
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
	captured_at TIMESTAMP WITHOUT TIME ZONE, 
	error TEXT, 
	after_store_error TEXT, 
	finished TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_job_items_state ON job_items (state);

CREATE INDEX ix_job_items_job_id ON job_items (job_id);

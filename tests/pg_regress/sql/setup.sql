-- run once before the other regression files
CREATE EXTENSION vector_ext;

-- creates the services databases
CREATE DATABASE hockeyhub_users;
CREATE DATABASE hockeyhub_chat;

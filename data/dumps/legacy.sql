--
-- PostgreSQL database dump
--

\restrict Up4uMT2tholxOCTyzu2WmPYkLb6AHNn1HPdA5WLpqjEXh9jEXN9SkwFMelrspmG

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: touch(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN NEW.signed_up := now(); RETURN NEW; END $$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customers (
    customer_id integer NOT NULL,
    name text NOT NULL,
    email text,
    country character(2),
    signed_up timestamp with time zone NOT NULL,
    notes text
);


--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    order_id integer NOT NULL,
    customer_id integer,
    amount numeric(10,2)
);


--
-- Data for Name: customers; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.customers (customer_id, name, email, country, signed_up, notes) FROM stdin;
1	Ada Lovelace	ada@example.org	GB	2019-03-01 09:00:00+00	\N
2	Grace Hopper	grace@example.org	US	2019-04-12 14:30:00+00	prefers\tphone
3	Linus Torvalds	\N	FI	2020-01-05 08:15:00+00	
4	Zoë Ångström	zoe@example.se	SE	2020-06-30 23:59:59+00	line one\nline two
5	O'Brien & Sons	sales@obrien.ie	IE	2021-02-14 12:00:00+00	quote's and "double"
6	山田 太郎	taro@example.jp	JP	2021-07-07 07:07:07+00	back\\slash
7	Test Account	not-an-email	XX	2022-01-01 00:00:00+00	country XX is not a real one
8	Émile Zola	emile@example.fr	FR	2022-05-05 10:10:10+00	\N
9	Duplicate Name	dup1@example.com	DE	2023-03-03 03:03:03+00	\N
10	Duplicate Name	dup2@example.com	DE	2023-03-04 04:04:04+00	\\N is not null
11	Ngozi Okonjo	ngozi@example.ng	NG	2023-08-08 08:08:08+00	semi;colon -- and dash
12	María José	mj@example.es	ES	2024-02-29 12:00:00+00	leap day
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.orders (order_id, customer_id, amount) FROM stdin;
100	1	19.99
101	2	5.00
102	4	120.50
\.


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (customer_id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (order_id);


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(customer_id);


--
-- PostgreSQL database dump complete
--

\unrestrict Up4uMT2tholxOCTyzu2WmPYkLb6AHNn1HPdA5WLpqjEXh9jEXN9SkwFMelrspmG


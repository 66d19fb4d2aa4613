pub mod aws;
pub mod embedded;
pub mod maskinporten;
